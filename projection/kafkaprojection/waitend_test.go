package kafkaprojection_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// A second service's fresh projection on a topic of several partitions
// written by the Kafka store (every append a transaction, so each partition
// ends in a commit marker): WaitForEnd, called before the runner starts,
// returns only when every partition is processed up to the end of the log
// as it was at the call, with a consumer-group source and with the
// runner's own checkpoints.
func TestWaitForEndOnSeveralPartitions(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	ctx := timeout(t, 90*time.Second)
	store, err := kafka.New(ctx, c.Client(t), topic, kafka.WithCreateTopic(4, 1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	sd := testSerde()
	const n = 40
	parts := map[int32]bool{}
	for i := range n {
		name, data, err := sd.Marshal(ctx, Deposited{Amount: int64(i)})
		require.NoError(t, err)
		res, err := store.Append(ctx, fmt.Sprint("s", i%8), eventstore.Any, eventstore.Event{Type: name, Data: data})
		require.NoError(t, err)
		parts[res.Positions[0].Partition] = true
	}
	require.Greater(t, len(parts), 1, "the streams spread over several partitions")

	for _, mode := range []string{"group", "checkpoints"} {
		t.Run(mode, func(t *testing.T) {
			got := newSeen()
			var opts []projection.Option
			if mode == "checkpoints" {
				opts = append(opts, projection.WithCheckpoints(&projection.MemoryCheckpoints{}))
			}
			r, err := projection.New("second-service", sd, []projection.Handler{got.handler()}, opts...)
			require.NoError(t, err)
			waited := make(chan error, 1)
			go func() { waited <- r.WaitForEnd(ctx) }() // before Run: nothing to read yet

			src, err := kafkaprojection.NewSource(context.Background(), c.Client(t), topic, kafkatest.TopicName(t, "group"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = src.Close() })
			stop := testrun.Background(t, func(ctx context.Context) error { return r.Run(ctx, src) })
			require.NoError(t, <-waited)
			require.Equal(t, n, got.total(), "every partition was processed when WaitForEnd returned")
			require.ErrorIs(t, stop(), context.Canceled)
		})
	}
}
