package kafka

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestReadOnly: a store opened WithReadOnly builds no index at start, reads
// a stream through its partition's index, refuses appends with ErrReadOnly,
// and with WithIndexDir reads only what was appended since the saved index,
// never writing the file.
func TestReadOnly(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	dir := t.TempDir()
	w := openStore(t, c, topic, WithIndexDir(dir))
	for i := range 300 {
		_, err := w.Append(testCtx(t), fmt.Sprint("other-", i%50), eventstore.Any, ev("T", i))
		require.NoError(t, err)
	}
	_, err := w.Append(testCtx(t), "acc-1", eventstore.NoStream, ev("T", 1), ev("T", 2))
	require.NoError(t, err)
	require.NoError(t, w.Close()) // saves the index
	saved, err := os.Stat(w.indexFile())
	require.NoError(t, err)
	w2 := openStore(t, c, topic) // appends after the save
	_, err = w2.Append(testCtx(t), "acc-1", eventstore.Exact(2), ev("T", 3))
	require.NoError(t, err)

	read := func(s *Store) []int64 {
		var vs []int64
		for e, err := range s.ReadStream(testCtx(t), "acc-1", 1) {
			require.NoError(t, err)
			vs = append(vs, e.Version)
		}
		return vs
	}
	t.Run("no index dir", func(t *testing.T) {
		s := openStore(t, c, topic, WithReadOnly())
		require.Zero(t, s.indexed.Load(), "a read-only store indexes nothing at start")
		require.Equal(t, []int64{1, 2, 3}, read(s))
		require.GreaterOrEqual(t, s.indexed.Load(), int64(302), "the first read indexes the whole partition")
		_, err := s.Append(testCtx(t), "acc-1", eventstore.Any, ev("T", 4))
		require.ErrorIs(t, err, ErrReadOnly)
		_, err = s.AppendMulti(testCtx(t), eventstore.StreamAppend{StreamID: "acc-2", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", 1)}})
		require.ErrorIs(t, err, ErrReadOnly)
	})
	t.Run("index dir", func(t *testing.T) {
		s := openStore(t, c, topic, WithReadOnly(), WithIndexDir(dir))
		require.Equal(t, []int64{1, 2, 3}, read(s))
		// The append after the save and transaction markers, not the 300
		// records before.
		require.Less(t, s.indexed.Load(), int64(10), "only what was appended after the save is read")
		require.NoError(t, s.Close())
		after, err := os.Stat(w.indexFile())
		require.NoError(t, err)
		require.Equal(t, saved.ModTime(), after.ModTime(), "a read-only store never writes the index file")
	})
}
