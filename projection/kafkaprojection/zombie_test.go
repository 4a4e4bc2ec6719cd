package kafkaprojection_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// A transformer instance stalls inside a batch for longer than the
// rebalance timeout: the group throws it out and another instance takes
// the partition over, fencing the stalled one's transactional producer.
// When the zombie wakes up and tries to commit its batch, the commit fails;
// the output still has every input event exactly once.
func TestTransformerZombieIsFenced(t *testing.T) {
	c, in := eventsTopic(t, 1)
	out := derivedTopic(t, c, 1)
	p := newProducer(t, c, in)
	const n = 60
	var last eventstore.Position
	for i := range n {
		last = p.deposit("s", int64(i))
	}
	group := kafkatest.TopicName(t, "group")
	cfg := c.Config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 2 * time.Second

	hung, release := make(chan struct{}), make(chan struct{})
	zombieCommits := make(chan error, 100) // the outcome of every commit instance A tries
	newRunner := func(zombie bool) (*projection.Runner, *kafkaprojection.Transformer) {
		tr, err := kafkaprojection.NewTransformer(context.Background(), c.ClientWith(t, cfg), in, group, kafkaprojection.WithMaxBatch(10))
		require.NoError(t, err)
		t.Cleanup(func() { _ = tr.Close() })
		var handled int
		r, err := projection.New("doubler", testSerde(), []projection.Handler{
			projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
				data, _ := json.Marshal(Deposited{Amount: 2 * ev.Amount})
				if err := kafkaprojection.EmitEvent(ctx, out, m.StreamID, m.Version, eventstore.Event{ID: m.EventID, Type: "test.Deposited", Data: data}, m.Time); err != nil {
					return err
				}
				handled++
				if zombie && handled == 15 {
					close(hung)
					<-release // stall past the rebalance timeout
				}
				return nil
			}),
		}, projection.WithCheckpoints(checkpoints(tr, zombie, zombieCommits)), projection.WithRetry(1, time.Millisecond, time.Millisecond),
			projection.WithLogger(discard()))
		require.NoError(t, err)
		return r, tr
	}
	rA, trA := newRunner(true)
	errA := make(chan error, 1)
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	go func() { errA <- rA.Run(ctxA, trA.Source()) }()
	select {
	case <-hung:
	case <-time.After(60 * time.Second):
		t.Fatal("instance A never stalled")
	}
	rB, trB := newRunner(false)
	stopB := testrun.Background(t, func(ctx context.Context) error { return rB.Run(ctx, trB.Source()) })
	ctx := timeout(t, 90*time.Second)
	require.NoError(t, rB.WaitFor(ctx, last), "B takes over from the stalled A")
	before := rA.Stats().Processed
	for drained := false; !drained; { // the commits A made before it stalled
		select {
		case err := <-zombieCommits:
			require.NoError(t, err, "a commit of A before it stalled")
		default:
			drained = true
		}
	}
	close(release) // the zombie wakes up and tries to commit its batch
	// The outcome of that very commit proves it did not succeed (no
	// waiting for a wrong success that might come later).
	select {
	case err := <-zombieCommits:
		// Fenced: at the produce (a sarama.ProducerErrors) or at the commit.
		require.Error(t, err, "the zombie's batch must not commit")
	case <-ctx.Done():
		t.Fatal("the zombie never tried to commit its batch")
	}
	require.Equal(t, before, rA.Stats().Processed, "A's runner does not count the fenced batch as processed")
	cancelA()
	<-errA
	require.ErrorIs(t, stopB(), context.Canceled)

	got := newSeen()
	counter, err := projection.New("count", testSerde(), []projection.Handler{got.handler()})
	require.NoError(t, err)
	rd, err := kafkaprojection.NewReader(context.Background(), c.Client(t), out)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd.Close() })
	require.NoError(t, counter.CatchUp(ctx, rd, nil))
	counts := got.counts()
	require.Len(t, counts, n, "every input event is in the output")
	for k, v := range counts {
		require.Equal(t, 1, v, "%s is in the output %d times", k, v)
	}
}

// checkpoints returns tr, or for the zombie tr with every commit's outcome
// sent to results.
func checkpoints(tr *kafkaprojection.Transformer, spy bool, results chan<- error) projection.CheckpointStore {
	if !spy {
		return tr
	}
	return commitSpy{tr, results}
}

// commitSpy reports the outcome of every commit of its store.
type commitSpy struct {
	projection.CheckpointStore
	results chan<- error
}

func (s commitSpy) Begin(ctx context.Context, name string, partition int32) (context.Context, projection.Txn, error) {
	ctx, tx, err := s.CheckpointStore.Begin(ctx, name, partition)
	if err != nil {
		return ctx, tx, err
	}
	return ctx, spyTxn{tx, s.results}, nil
}

type spyTxn struct {
	projection.Txn
	results chan<- error
}

func (t spyTxn) Commit(ctx context.Context, partition int32, from, next int64) error {
	err := t.Txn.Commit(ctx, partition, from, next)
	select {
	case t.results <- err:
	default:
	}
	return err
}
