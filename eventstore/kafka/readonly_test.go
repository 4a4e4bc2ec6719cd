package kafka

import (
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

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

// TestReadOnlySlowBuild: the first ReadStream of a read-only store builds
// its partition's index however long that takes; the read's own catch-up
// gives up after a few seconds (readWait), which a partition that takes
// longer to read must not hit.
func TestReadOnlySlowBuild(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("slows the in-process broker's fetches")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	w := openStore(t, c, topic)
	for i := range 400 { // about 4 MB compressed: 4 or more fetches of 1 MB
		evs := make([]eventstore.Event, 10)
		for k := range evs {
			pad := make([]byte, 1000)
			_, _ = rand.Read(pad)
			evs[k] = eventstore.Event{Type: "T", Data: []byte(fmt.Sprintf(`{"n":%d,"pad":"%x"}`, i, pad))}
		}
		_, err := w.Append(testCtx(t), fmt.Sprint("other-", i%50), eventstore.Any, evs...)
		require.NoError(t, err)
	}
	_, err := w.Append(testCtx(t), "acc-1", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)
	s := openStore(t, c, topic, WithReadOnly())
	c.Fake().ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		time.Sleep(readWait / 2) // every fetch is slow: the partition takes longer than readWait
		return nil, nil, false
	})
	var n int
	for _, err := range s.ReadStream(testCtx(t), "acc-1", 1) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 1, n)
}
