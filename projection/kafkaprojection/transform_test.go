package kafkaprojection_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// A transformer doubles every deposit into an output topic. One instance is
// killed in the middle of a batch; another takes over. Read with
// read_committed, the output has every input event exactly once.
func TestTransformerExactlyOnce(t *testing.T) {
	c, in := eventsTopic(t, 2)
	out := derivedTopic(t, c, 2)
	const n = 200
	last := newProducer(t, c, in).depositN(n, 10)
	group := kafkatest.TopicName(t, "group")
	cfg := c.Config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond

	hung := make(chan struct{})
	var handled atomic.Int32
	newRunner := func(hangAt int32) (*projection.Runner, *kafkaprojection.Transformer) {
		tr, err := kafkaprojection.NewTransformer(context.Background(), c.ClientWith(t, cfg), in, group, kafkaprojection.WithMaxBatch(10))
		require.NoError(t, err)
		t.Cleanup(func() { _ = tr.Close() })
		r, err := projection.New("doubler", testSerde(), []projection.Handler{
			projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
				data, _ := json.Marshal(Deposited{Amount: 2 * ev.Amount})
				if err := kafkaprojection.EmitEvent(ctx, out, m.StreamID, m.Version, eventstore.Event{ID: m.EventID, Type: "test.Deposited", Data: data}, m.Time); err != nil {
					return err
				}
				if hangAt > 0 && handled.Add(1) == hangAt {
					close(hung)
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}),
		}, projection.WithCheckpoints(tr))
		require.NoError(t, err)
		return r, tr
	}
	rA, trA := newRunner(60)
	var wg sync.WaitGroup
	wg.Add(1)
	killA := testrun.Background(t, func(ctx context.Context) error { defer wg.Done(); return rA.Run(ctx, trA.Source()) })
	select {
	case <-hung:
	case <-time.After(60 * time.Second):
		t.Fatal("instance A never reached its 60th event")
	}
	rB, trB := newRunner(0)
	stopB := testrun.Background(t, func(ctx context.Context) error { return rB.Run(ctx, trB.Source()) })
	time.Sleep(200 * time.Millisecond)
	require.ErrorIs(t, killA(), context.Canceled)
	wg.Wait()
	ctx := timeout(t, 90*time.Second)
	for _, pos := range last {
		require.NoError(t, rB.WaitFor(ctx, pos))
	}
	require.ErrorIs(t, stopB(), context.Canceled)
	require.Greater(t, rA.Stats().Processed, int64(0), "A committed some batches")

	// Count the committed output with a catch-up projection.
	got := newSeen()
	var sum atomic.Int64
	counter, err := projection.New("count", testSerde(), []projection.Handler{
		projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
			got.add(m.StreamID, m.Version)
			sum.Add(ev.Amount)
			return nil
		}),
	})
	require.NoError(t, err)
	require.NoError(t, counter.CatchUp(ctx, newSource(t, c, out, kafkatest.TopicName(t, "counter")), nil))
	counts := got.counts()
	require.Len(t, counts, n, "every input event is in the output")
	for k, v := range counts {
		require.Equal(t, 1, v, "%s is in the output %d times", k, v)
	}
	require.Equal(t, int64(n*(n-1)), sum.Load())
}

func TestEmitOutsideTransformer(t *testing.T) {
	require.ErrorContains(t, kafkaprojection.Emit(context.Background(), &sarama.ProducerMessage{Topic: "x"}), "outside a transformer")
	ev := eventstore.Event{ID: "id", Type: "t", Data: []byte("{}")}
	require.ErrorContains(t, kafkaprojection.EmitEvent(context.Background(), "x", "s", 1, ev, time.Now()), "outside a transformer")
	require.ErrorContains(t, kafkaprojection.EmitEvent(context.Background(), "x", "s", 0, ev, time.Now()), "version >= 1")
	ev.ID = ""
	require.ErrorContains(t, kafkaprojection.EmitEvent(context.Background(), "x", "s", 1, ev, time.Now()), "event ID")
}
