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
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// The Reader catches up on a topic written by the Kafka store (every
// append a transaction, so the log ends in commit markers) and resumes from
// the runner's checkpoint store.
func TestReaderCatchUpResumesFromCheckpoint(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	ctx := timeout(t, 90*time.Second)
	store, err := kafka.New(ctx, c.Client(t), topic, kafka.WithCreateTopic(3, 1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	sd := testSerde()
	appendN := func(from, to int) eventstore.Position {
		var last eventstore.Position
		for i := from; i < to; i++ {
			name, data, err := sd.Marshal(ctx, Deposited{Amount: int64(i)})
			require.NoError(t, err)
			res, err := store.Append(ctx, fmt.Sprint("s", i%5), eventstore.Any, eventstore.Event{Type: name, Data: data})
			require.NoError(t, err)
			last = res.Positions[0]
		}
		return last
	}
	appendN(0, 30)
	cps := &projection.MemoryCheckpoints{}
	got := newSeen()
	newRunner := func() *projection.Runner {
		r, err := projection.New("reader", sd, []projection.Handler{got.handler()}, projection.WithCheckpoints(cps))
		require.NoError(t, err)
		return r
	}
	rd, err := kafkaprojection.NewReader(context.Background(), c.Client(t), topic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd.Close() })
	var final projection.Progress
	require.NoError(t, newRunner().CatchUp(ctx, rd, func(p projection.Progress) { final = p }))
	require.Equal(t, 30, got.total())
	require.True(t, final.Finished)

	last := appendN(30, 40)
	r := newRunner()
	require.NoError(t, r.CatchUp(ctx, rd, nil))
	require.Equal(t, 40, got.total())
	for k, n := range got.counts() {
		require.Equal(t, 1, n, k)
	}
	require.True(t, r.Position().Includes(last))
	lag, err := r.Lag(ctx)
	require.NoError(t, err)
	for p, l := range lag {
		require.Zero(t, l, "partition %d: only transaction markers are left", p)
	}
}
