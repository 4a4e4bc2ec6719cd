package kafkaprojection_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
)

// The real broker crashes (SIGKILL) while a projection is in the middle of
// the log, and comes back: the runner carries on by itself and every event
// reaches the view (at least once; each exactly once by stream and version
// with the idempotency helper).
func TestRealBrokerCrashDuringProjection(t *testing.T) {
	ctl := kafkatest.RequireBrokerCtl(t)
	c, topic := eventsTopic(t, 3)
	const n = 300
	last := newProducer(t, c, topic).depositN(n, 10)
	got := newSeen()
	halfway := make(chan struct{})
	var handled atomic.Int32
	r, err := projection.New("view", testSerde(), []projection.Handler{
		projection.On(func(_ context.Context, _ Deposited, m projection.Meta) error {
			got.add(m.StreamID, m.Version)
			if handled.Add(1) == n/3 {
				close(halfway)
			}
			time.Sleep(2 * time.Millisecond) // still busy when the broker dies
			return nil
		}),
	}, projection.WithIdempotency(&projection.MemoryVersions{}))
	require.NoError(t, err)
	cfg := c.Config()
	cfg.Consumer.Offsets.AutoCommit.Interval = 50 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	src := newSourceCfg(t, c, cfg, topic, kafkatest.TopicName(t, "group"))
	stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, src) })
	select {
	case <-halfway:
	case <-time.After(60 * time.Second):
		t.Fatal("the projection never got a third of the way")
	}
	ctx := timeout(t, 3*time.Minute)
	require.NoError(t, ctl.Kill(ctx))
	time.Sleep(time.Second)
	require.NoError(t, ctl.Start(ctx))
	for _, pos := range last {
		require.NoError(t, r.WaitFor(ctx, pos))
	}
	require.ErrorIs(t, stop(), context.Canceled)
	require.Len(t, got.counts(), n, "every event reached the view")
	for k, v := range got.counts() {
		require.Equal(t, 1, v, "%s applied %d times despite the idempotency helper", k, v)
	}
}
