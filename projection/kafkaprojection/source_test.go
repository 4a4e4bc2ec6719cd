package kafkaprojection_test

import (
	"context"
	"fmt"
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

func newSource(t testing.TB, c *kafkatest.Cluster, topic, group string, opts ...kafkaprojection.Option) *kafkaprojection.Source {
	cfg := c.Config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
	return newSourceCfg(t, c, cfg, topic, group, opts...)
}

func newSourceCfg(t testing.TB, c *kafkatest.Cluster, cfg *sarama.Config, topic, group string, opts ...kafkaprojection.Option) *kafkaprojection.Source {
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond // notice rebalances quickly
	src, err := kafkaprojection.NewSource(context.Background(), c.ClientWith(t, cfg), topic, group, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// The source starts a new group at the oldest offset, delivers every event
// once and in stream order, and catch-up finishes at the end of the log.
func TestSourceCatchUpInOrder(t *testing.T) {
	c, topic := eventsTopic(t, 3)
	p := newProducer(t, c, topic)
	for i := range 120 {
		p.deposit(fmt.Sprint("s", i%8), int64(i))
	}
	got := newSeen()
	r, err := projection.New("catchup", testSerde(), []projection.Handler{got.handler()}, projection.WithProgressInterval(10*time.Millisecond))
	require.NoError(t, err)
	src := newSource(t, c, topic, kafkatest.TopicName(t, "group"))
	var last projection.Progress
	require.NoError(t, r.CatchUp(timeout(t, 60*time.Second), src, func(p projection.Progress) { last = p }))
	require.True(t, last.Finished)
	require.Equal(t, int64(120), last.Done)
	require.Equal(t, int64(120), last.Total)
	require.Equal(t, 120, got.total())
	for stream, vs := range got.by {
		for i, v := range vs {
			require.Equal(t, int64(i+1), v, "stream %s out of order: %v", stream, vs)
		}
	}
	for k, n := range got.counts() {
		require.Equal(t, 1, n, k)
	}
}

// Run keeps following the topic; WaitFor sees new events; Lag is 0 when
// caught up.
func TestSourceLiveWaitForAndLag(t *testing.T) {
	c, topic := eventsTopic(t, 2)
	p := newProducer(t, c, topic)
	got := newSeen()
	r, err := projection.New("live", testSerde(), []projection.Handler{got.handler()})
	require.NoError(t, err)
	src := newSource(t, c, topic, kafkatest.TopicName(t, "group"))
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, src) })
	var pos []eventstore.Position
	for i := range 20 {
		pos = append(pos, p.deposit(fmt.Sprint("s", i%3), 1))
	}
	ctx := timeout(t, 60*time.Second)
	for _, ps := range pos {
		require.NoError(t, r.WaitFor(ctx, ps))
	}
	lag, err := r.Lag(ctx)
	require.NoError(t, err)
	for part, l := range lag {
		require.Zero(t, l, "partition %d", part)
	}
	require.ErrorIs(t, stop(), context.Canceled)
	require.Equal(t, 20, got.total())
}
