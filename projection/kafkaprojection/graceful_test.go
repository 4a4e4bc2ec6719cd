package kafkaprojection_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// When a second instance joins while the first is busy, the first finishes
// its batch in flight, commits what it did and hands the partitions over:
// with plain consumer-group offsets no event is lost and none is repeated.
func TestGracefulRebalanceHandsOverWithoutRepeats(t *testing.T) {
	c, topic := eventsTopic(t, 4)
	const n = 300
	newProducer(t, c, topic).depositN(n, 12)
	group := kafkatest.TopicName(t, "group")
	seenA, seenB := newSeen(), newSeen()
	var handledA atomic.Int32
	started := make(chan struct{})
	newRunner := func(s *seen, slow bool) *projection.Runner {
		r, err := projection.New("view", testSerde(), []projection.Handler{
			projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
				if slow {
					if handledA.Add(1) == 20 {
						close(started)
					}
					if seenB.total() == 0 {
						time.Sleep(10 * time.Millisecond) // busy until B takes over
					}
				}
				s.add(m.StreamID, m.Version)
				return nil
			}),
		})
		require.NoError(t, err)
		return r
	}
	rA, rB := newRunner(seenA, true), newRunner(seenB, false)
	srcA := newSource(t, c, topic, group, kafkaprojection.WithMaxBatch(20))
	srcB := newSource(t, c, topic, group, kafkaprojection.WithMaxBatch(20))
	stopA := testrun.Background(t, func(ctx context.Context) error { return rA.Run(ctx, srcA) })
	<-started
	stopB := testrun.Background(t, func(ctx context.Context) error { return rB.Run(ctx, srcB) })
	require.Eventually(t, func() bool { return seenA.total()+seenB.total() >= n }, 90*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, stopA(), context.Canceled)
	require.ErrorIs(t, stopB(), context.Canceled)
	require.NotZero(t, seenB.total(), "B got partitions")
	union := map[string]int{}
	for _, s := range []*seen{seenA, seenB} {
		for k, v := range s.counts() {
			union[k] += v
		}
	}
	require.Len(t, union, n)
	for k, v := range union {
		require.Equal(t, 1, v, "%s handled %d times", k, v)
	}
}

// A poison event with the Stop policy ends Run with a HandlerError; what
// was done before it is committed, so the next run starts at the poison
// event, not before it and not after it.
func TestPoisonEventStopsAndCommitsWhatIsDone(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	p := newProducer(t, c, topic)
	p.deposit("a", 1)
	p.deposit("a", 2)
	p.deposit("a", -1)
	p.deposit("a", 3)
	group := kafkatest.TopicName(t, "group")
	for run := 0; run < 2; run++ {
		got := newSeen()
		r, err := projection.New("view", testSerde(), []projection.Handler{
			projection.On(func(_ context.Context, ev Deposited, m projection.Meta) error {
				if ev.Amount < 0 {
					return errors.New("negative deposit")
				}
				got.add(m.StreamID, m.Version)
				return nil
			}),
		}, projection.WithRetry(2, time.Millisecond, time.Millisecond))
		require.NoError(t, err)
		src := newSource(t, c, topic, group)
		err = r.Run(timeout(t, 60*time.Second), src)
		var he *projection.HandlerError
		require.ErrorAs(t, err, &he)
		require.Equal(t, int64(3), he.Meta.Version)
		require.Equal(t, eventstore.Position{Partition: 0, Offset: 2}, he.Meta.Position)
		if run == 0 {
			require.Equal(t, []string{"a/1", "a/2"}, keys(got.counts()))
		} else {
			require.Empty(t, got.counts(), "the second run starts at the poison event")
		}
		require.NoError(t, src.Close())
	}
}

// WaitFor on one instance returns also for events of partitions another
// instance of the projection owns, through the group's committed offsets.
func TestWaitForAcrossInstances(t *testing.T) {
	c, topic := eventsTopic(t, 4)
	p := newProducer(t, c, topic)
	group := kafkatest.TopicName(t, "group")
	seenA, seenB := newSeen(), newSeen()
	newRunner := func(s *seen) *projection.Runner {
		r, err := projection.New("view", testSerde(), []projection.Handler{s.handler()})
		require.NoError(t, err)
		return r
	}
	rA, rB := newRunner(seenA), newRunner(seenB)
	stopA := testrun.Background(t, func(ctx context.Context) error { return rA.Run(ctx, newSource(t, c, topic, group)) })
	stopB := testrun.Background(t, func(ctx context.Context) error { return rB.Run(ctx, newSource(t, c, topic, group)) })
	// Write events until both instances have handled some (both own
	// partitions), then 40 more.
	var pos []eventstore.Position
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; seenA.total() == 0 || seenB.total() == 0; i++ {
		require.True(t, time.Now().Before(deadline), "both instances get partitions")
		pos = append(pos, p.deposit(fmt.Sprint("s", i%40), 1))
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("both instances own partitions after %d events", len(pos))
	for i := range 40 {
		pos = append(pos, p.deposit(fmt.Sprint("s", i), 1))
	}
	ctx := timeout(t, 60*time.Second)
	for _, ps := range pos {
		require.NoError(t, rA.WaitFor(ctx, ps))
		require.NoError(t, rB.WaitFor(ctx, ps))
	}
	t.Log("all positions reached on both instances")
	require.ErrorIs(t, stopA(), context.Canceled)
	require.ErrorIs(t, stopB(), context.Canceled)
}
