package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// fill writes n valid single-event streams named prefix-i to partition p
// with a plain producer, in large batches.
func fill(t *testing.T, c *kafkatest.Cluster, topic string, partitions int32, prefix string, n int) {
	t.Helper()
	var msgs []*sarama.ProducerMessage
	for i := range n {
		m := encodedMsg(topic, fmt.Sprintf("%s-%d", prefix, i), 1, "Filler")
		m.Partition = int32(i) % partitions
		msgs = append(msgs, m)
	}
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.SendMessages(msgs))
}

func TestIndexProgress(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	fill(t, c, topic, 3, "f", 3000)

	var mu sync.Mutex
	last := map[int32]Progress{}
	reports := 0
	s := openStore(t, c, topic, WithProgress(func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		reports++
		require.Equal(t, topic, p.Topic)
		if prev, ok := last[p.Partition]; ok {
			require.GreaterOrEqual(t, p.Offset, prev.Offset, "progress never goes back")
		}
		last[p.Partition] = p
	}))
	mu.Lock()
	require.Len(t, last, 3)
	for p, pr := range last {
		require.True(t, pr.Done(), "partition %d: %+v", p, pr)
		require.Equal(t, int64(1000), pr.End)
	}
	mu.Unlock()
	require.Equal(t, int64(3000), s.indexed.Load())
	evs, err := collectStream(t, s, "f-1234")
	require.NoError(t, err)
	require.Len(t, evs, 1)

	t.Run("Cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		_, err := New(ctx, c.Client(t), topic, WithProgress(func(Progress) {
			calls++
			cancel()
		}))
		require.ErrorIs(t, err, context.Canceled)
		require.LessOrEqual(t, calls, 3, "the catch-up stops after the fetch during which it was cancelled (one report per partition)")
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := New(ctx, c.Client(t), topic)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// TestLoadCost checks that loading a stream fetches the stream's own record
// batches only: the same number of records whether the partition holds 1k
// or 20k other events; and that the read cache saves even those: the
// writer of the stream and a store that loaded it once fetch nothing, a
// store with WithReadCache(0) fetches them every time.
func TestLoadCost(t *testing.T) {
	c := kafkatest.New(t)
	var costs []int64
	for _, others := range []int{1000, 20000} {
		topic := kafkatest.TopicName(t, fmt.Sprintf("events-%d", others))
		c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
		ctx := testCtx(t)
		w := openStore(t, c, topic)
		for i := range 5 {
			fill(t, c, topic, 1, fmt.Sprintf("other%d", i), others/5)
			evs := make([]eventstore.Event, 10)
			for j := range evs {
				evs[j] = ev("T", i*10+j)
			}
			_, err := w.Append(ctx, "target", eventstore.Exact(int64(i*10)), evs...)
			require.NoError(t, err)
		}
		// A fresh store builds its index from the log; loads then cost the
		// stream's batches only.
		s := openStore(t, c, topic)
		require.Equal(t, int64(others+50), s.indexed.Load())
		uncached := openStore(t, c, topic, WithReadCache(0))
		load := func(st *Store) int64 {
			before := st.loaded.Load()
			evs, err := collectStream(t, st, "target")
			require.NoError(t, err)
			require.Len(t, evs, 50)
			for i, e := range evs {
				require.Equal(t, int64(i+1), e.Version)
			}
			return st.loaded.Load() - before
		}
		got := []int64{load(w), load(s), load(s), load(uncached), load(uncached)}
		require.Equal(t, []int64{0, 50, 0, 50, 50}, got,
			"records fetched by the writer, a new store twice, a store without read cache twice (%d other events)", others)
		costs = append(costs, got[1])
	}
	t.Logf("records fetched by a first load (1k, 20k other events): %v", costs)
}
