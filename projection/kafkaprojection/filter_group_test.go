package kafkaprojection_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// Two live members of a group with a filtered Source (raw fetches for the
// claims): B joins while A works and takes some of A's partitions over
// (A's claims are revoked with fetches in flight), more events arrive
// while both run. Every wanted event is handled, none twice (the revoked
// claims' marks are committed before the partitions move), the group's
// offsets end at the end of every partition although the last records are
// filtered out, and a plain consumer afterwards finds exactly the events
// the two handled.
func TestFilteredGroupRebalance(t *testing.T) {
	c, topic := eventsTopic(t, 4)
	p := newProducer(t, c, topic)
	produce := func(from, n int) {
		for i := from; i < from+n; i++ {
			stream := fmt.Sprint("s", i%16)
			p.event(stream, "test.Deposited", []byte(`{"amount":1}`))
			p.event(stream, "test.Withdrawn", []byte(`{"amount":1}`))
		}
	}
	produce(0, 200)
	group := kafkatest.TopicName(t, "group")
	seenA, seenB := newSeen(), newSeen()
	var handledA atomic.Int32
	newRunner := func(s *seen, count *atomic.Int32) *projection.Runner {
		r, err := projection.New("view", testSerde(), []projection.Handler{
			projection.On(func(_ context.Context, _ Deposited, m projection.Meta) error {
				time.Sleep(time.Millisecond) // keep A busy while B joins
				s.add(m.StreamID, m.Version)
				if count != nil {
					count.Add(1)
				}
				return nil
			}),
		}, projection.WithLogger(discard()))
		require.NoError(t, err)
		return r
	}
	opts := []kafkaprojection.Option{kafkaprojection.WithMaxBatch(5), kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited"))}
	rA, rB := newRunner(seenA, &handledA), newRunner(seenB, nil)
	srcA, srcB := newSource(t, c, topic, group, opts...), newSource(t, c, topic, group, opts...)
	stopA := testrun.Background(t, func(ctx context.Context) error { return rA.Run(ctx, srcA) })
	require.Eventually(t, func() bool { return handledA.Load() >= 20 }, 60*time.Second, 10*time.Millisecond)
	stopB := testrun.Background(t, func(ctx context.Context) error { return rB.Run(ctx, srcB) })
	produce(200, 200)
	union := func() (distinct, total int) {
		m := map[string]int{}
		for k, v := range seenA.counts() {
			m[k] += v
		}
		for k, v := range seenB.counts() {
			m[k] += v
		}
		for _, v := range m {
			total += v
		}
		return len(m), total
	}
	require.Eventually(t, func() bool { d, _ := union(); return d == 400 }, 90*time.Second, 20*time.Millisecond, "every Deposited event is handled")
	// Let the last marks reach the group before the members stop.
	ctx := timeout(t, 30*time.Second)
	end, err := srcA.End(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cp, err := srcA.Committed(ctx)
		if err != nil {
			return false
		}
		for part, off := range end {
			if cp[part] != off {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "the group offsets reach the end of every partition")
	require.ErrorIs(t, stopA(), context.Canceled)
	require.ErrorIs(t, stopB(), context.Canceled)
	d, total := union()
	require.Equal(t, 400, d)
	require.Equal(t, 400, total, "no event handled twice")
	require.NotEmpty(t, seenA.counts())
	require.NotEmpty(t, seenB.counts(), "B took partitions over")

	// A plain consumer reads the same Deposited events.
	consumer, err := sarama.NewConsumer(c.Brokers, c.Config())
	require.NoError(t, err)
	defer consumer.Close()
	plain := map[string]bool{}
	for part, off := range end {
		if off == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
		require.NoError(t, err)
		for msg := range pc.Messages() {
			h, err := wire.DecodeMessage(msg)
			require.NoError(t, err)
			if h.Type == "test.Deposited" {
				plain[fmt.Sprintf("%s/%d", h.StreamID, h.Version)] = true
			}
			if msg.Offset+1 >= off {
				break
			}
		}
		require.NoError(t, pc.Close())
	}
	require.Len(t, plain, 400)
	for k := range seenA.counts() {
		require.True(t, plain[k], k)
	}
	for k := range seenB.counts() {
		require.True(t, plain[k], k)
	}
}
