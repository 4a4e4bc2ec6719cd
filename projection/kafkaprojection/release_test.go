package kafkaprojection_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// TestReleaseThroughDLQ: a poison event parks its stream in the Kafka
// dead-letter topic; after the handler is fixed, a Release(Retry)
// written to the topic makes the running runner deliver the stream's
// letters in order before its next event and un-park it; a new instance
// (a restart) then finds nothing parked; a Drop releases another stream
// without handling its letters; and the topic keeps who asked and what
// came of it.
func TestReleaseThroughDLQ(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	dlqTopic := kafkaprojection.DLQTopic(topic)
	c.CreateTopic(t, dlqTopic, 2, nil)
	p := newProducer(t, c, topic)
	ctx := timeout(t, 2*time.Minute)
	dlq, err := kafkaprojection.NewDLQ(ctx, c.Client(t), dlqTopic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = dlq.Close() })

	var fixed atomic.Bool
	got := newSeen()
	newRunner := func() *projection.Runner {
		r, err := projection.New("balances", testSerde(), []projection.Handler{
			projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
				if ev.Amount < 0 && !fixed.Load() {
					return projection.Permanent(errors.New("negative deposit"))
				}
				got.add(m.StreamID, m.Version)
				return nil
			}),
		}, projection.WithDeadLetter(dlq), projection.WithReleaseCheck(0), projection.WithLogger(slog.New(slog.DiscardHandler)),
			projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
		require.NoError(t, err)
		return r
	}
	p.deposit("a", 1)
	p.deposit("a", -2) // poison
	p.deposit("a", 3)  // parked behind it
	p.deposit("c", -1) // poison
	last := p.deposit("b", 1)

	r := newRunner()
	rd, err := kafkaprojection.NewReader(ctx, c.Client(t), topic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd.Close() })
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, rd) })
	require.NoError(t, r.WaitFor(ctx, last))
	parked, err := dlq.Parked(ctx, "balances")
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"a": 2, "c": 1}, parked)

	fixed.Store(true)
	require.NoError(t, dlq.Release(ctx, "balances", "a", projection.Retry, "ada"))
	require.NoError(t, dlq.Release(ctx, "balances", "c", projection.Drop, "ada"))
	// The next events of the streams' partitions trigger the releases.
	last = p.deposit("a", 4)
	require.NoError(t, r.WaitFor(ctx, last))
	last = p.deposit("c", 2)
	require.NoError(t, r.WaitFor(ctx, last))
	require.ErrorIs(t, stop(), context.Canceled)
	// (A batch whose handler fails is rolled back and handled again one
	// event at a time, so a handler that writes outside the checkpoint
	// transaction, as this one does, sees an event twice in a row.)
	require.Equal(t, []int64{1, 2, 3, 4}, slices.Compact(got.versions("a")), "letters first, in order, then the new event")
	require.Equal(t, []int64{2}, got.versions("c"), "dropped letters are not handled")
	parked, err = dlq.Parked(ctx, "balances")
	require.NoError(t, err)
	require.Empty(t, parked)
	pending, err := dlq.Pending(ctx, "balances")
	require.NoError(t, err)
	require.Empty(t, pending)

	// The topic keeps the releases and their outcomes.
	var actions []string
	for _, m := range readAll(t, c, dlqTopic) {
		if a := header(m, kafkaprojection.HeaderDLQAction); a != "" {
			actions = append(actions, string(m.Key)+":"+a+":"+header(m, kafkaprojection.HeaderDLQBy)+":"+header(m, kafkaprojection.HeaderDLQOutcome))
		}
	}
	require.ElementsMatch(t, []string{"a:retry:ada:", "a:acted:ada:ok", "c:drop:ada:", "c:acted:ada:ok"}, actions)

	// A restarted runner (new reader, checkpoints from scratch) parks
	// nothing: it handles every event of a, b and c once more.
	got2 := newSeen()
	got = got2
	r2 := newRunner()
	rd2, err := kafkaprojection.NewReader(ctx, c.Client(t), topic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd2.Close() })
	require.NoError(t, r2.CatchUp(ctx, rd2, nil))
	require.Equal(t, []int64{1, 2, 3, 4}, slices.Compact(got2.versions("a")))
	require.Equal(t, []int64{1, 2}, slices.Compact(got2.versions("c")), "with the handler fixed, a replay handles c/1 too")
}
