package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// A long stream written one event per append among a few other streams
// is loaded in large fetches (its events are dense in the partition), by
// a store without a read cache: every event comes back once, in order,
// with its own data, also when loading from the middle. Once with the
// store's batches as it writes them (one-event batches uncompressed), once
// with every batch compressed (the load skips the other streams' batches
// without decompressing them).
func TestLoadDenseStream(t *testing.T) {
	t.Run("default", testLoadDenseStream)
	t.Run("zstd-every-batch", func(t *testing.T) {
		t.Cleanup(kafka.SetCompressMinBytes(0))
		testLoadDenseStream(t)
	})
}

func testLoadDenseStream(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	w := openStressStore(t, c, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 400
	ids := make([]string, n)
	var wg sync.WaitGroup
	wg.Go(func() {
		for v := range n {
			evs, id := newEvents(1, "dense")
			ids[v] = id[0]
			evs[0].Data = fmt.Appendf(nil, `{"v":%d}`, v+1)
			_, err := w.Append(ctx, "dense", eventstore.Exact(int64(v)), evs...)
			require.NoError(t, err)
		}
	})
	for k := range 3 {
		wg.Go(func() {
			for v := range n / 4 {
				evs, _ := newEvents(1+v%2, "other")
				_, err := w.Append(ctx, fmt.Sprint("other-", k), eventstore.Any, evs...)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()

	r := openStressStore(t, c, topic, kafka.WithReadCache(0))
	for _, from := range []int64{1, 123} {
		v := from
		for ev, err := range r.ReadStream(ctx, "dense", from) {
			require.NoError(t, err)
			require.Equal(t, v, ev.Version)
			require.Equal(t, ids[v-1], ev.ID)
			require.Equal(t, fmt.Sprintf(`{"v":%d}`, v), string(ev.Data))
			v++
		}
		require.Equal(t, int64(n+1), v, "loaded from %d", from)
	}
}
