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

// A filtered ReadAll skips other streams' and other types' records
// unread, and still reports a record that is not a valid event when its
// key passes the prefix filter.
func TestReadAllFilteredCorrupt(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	s := openStore(t, c, topic)
	for i, stream := range []string{"order-1", "acc-1", "order-2"} {
		e := ev("Placed", i)
		if stream == "acc-1" {
			e.Type = "Opened"
		}
		_, err := s.Append(ctx, stream, eventstore.NoStream, e)
		require.NoError(t, err)
	}
	bad := rawProduce(t, c, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("order-9"), Value: sarama.StringEncoder("not an event")},
		&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("acc-9"), Value: sarama.StringEncoder("not an event")})
	var streams []string
	var errs []error
	for e, err := range s.ReadAll(ctx, nil, eventstore.WithStreamPrefix("order-")) {
		if err != nil {
			errs = append(errs, err)
			require.Equal(t, bad[0], e.Position.Offset, "the bad record of an order stream")
			continue
		}
		streams = append(streams, e.StreamID)
	}
	require.Equal(t, []string{"order-1", "order-2"}, streams)
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], eventstore.ErrCorruptLog)

	var types []string
	for e, err := range s.ReadAll(ctx, nil, eventstore.WithTypes("Opened"), eventstore.WithStreamPrefix("acc-", "zzz")) {
		if err != nil {
			require.Equal(t, bad[1], e.Position.Offset)
			continue
		}
		types = append(types, e.Type)
	}
	require.Equal(t, []string{"Opened"}, types)
}
