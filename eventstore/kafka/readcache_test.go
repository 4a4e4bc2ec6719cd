package kafka

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// A stream read from the cache (its writer's, or after a first load) is
// the stream a store without a cache reads, field for field.
func TestReadCacheSameEvents(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	w := openStore(t, c, topic)
	for i := range 6 {
		e := ev("T", i)
		e.Metadata = eventstore.Metadata{CorrelationID: fmt.Sprint("c", i), Values: map[string]string{"k": fmt.Sprint(i)}}
		_, err := w.Append(ctx, "acc", eventstore.Exact(int64(i)), e)
		require.NoError(t, err)
	}
	plain := openStore(t, c, topic, WithReadCache(0))
	want, err := collectStream(t, plain, "acc")
	require.NoError(t, err)
	r := openStore(t, c, topic)
	for _, st := range []*Store{w, r, r} {
		got, err := collectStream(t, st, "acc")
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestReadCacheEviction(t *testing.T) {
	c := newReadCache(10_000)
	rec := func(off int64) record {
		return record{offset: off, key: []byte("k"), value: make([]byte, 900),
			headers: []*sarama.RecordHeader{{Key: []byte("es.version"), Value: []byte("1")}}}
	}
	for off := range int64(100) {
		c.put(0, rec(off))
		require.LessOrEqual(t, c.bytes, c.max)
	}
	_, ok := c.get(0, 0)
	require.False(t, ok, "the oldest record was evicted")
	got, ok := c.get(0, 99)
	require.True(t, ok)
	require.Equal(t, int64(99), got.offset)
	require.Len(t, got.value, 900)
	_, ok = c.get(1, 99)
	require.False(t, ok, "partitions are apart")
	require.Nil(t, newReadCache(0), "0 turns the cache off")
	var off *readCache
	off.put(0, rec(1)) // a nil cache takes nothing and has nothing
	_, ok = off.get(0, 1)
	require.False(t, ok)
}
