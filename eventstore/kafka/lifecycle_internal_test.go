package kafka

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// requireLifecycle checks what reads of the streams of lifecycleLog say on s.
func requireLifecycle(t *testing.T, s *Store) {
	t.Helper()
	_, err := collectStream(t, s, "del")
	require.ErrorIs(t, err, eventstore.ErrStreamDeleted)
	_, err = collectStream(t, s, "trunc")
	var te *eventstore.StreamTruncatedError
	require.ErrorAs(t, err, &te)
	require.Equal(t, int64(3), te.Before)
	recs, err := collectStream(t, s, "recreated")
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, int64(4), recs[0].Version, "a recreated stream reads from after its delete marker")
	_, err = s.Append(testCtx(t), "del", eventstore.Any, ev("T", 9))
	require.ErrorIs(t, err, eventstore.ErrStreamDeleted, "appends to a deleted stream stay refused after a restart")
}

// lifecycleLog deletes, truncates and recreates streams through s.
func lifecycleLog(t *testing.T, s *Store) {
	t.Helper()
	ctx := testCtx(t)
	for _, id := range []string{"del", "trunc", "recreated"} {
		_, err := s.Append(ctx, id, eventstore.NoStream, ev("T", 1), ev("T", 2))
		require.NoError(t, err)
	}
	_, err := s.DeleteStream(ctx, "del", eventstore.Exact(2))
	require.NoError(t, err)
	_, err = s.TruncateStream(ctx, "trunc", eventstore.Exact(2), 3)
	require.NoError(t, err)
	_, err = s.DeleteStream(ctx, "recreated", eventstore.Exact(2))
	require.NoError(t, err)
	_, err = eventstore.Recreate(ctx, s, "recreated", eventstore.Exact(3), ev("T", 3))
	require.NoError(t, err)
}

// TestIndexDirLifecycle: deletions and truncations survive a restart from
// the saved index (format 2), and equal what a store building from the
// topic finds.
func TestIndexDirLifecycle(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	dir := t.TempDir()

	s1 := openStore(t, c, topic, WithIndexDir(dir))
	lifecycleLog(t, s1)
	requireLifecycle(t, s1)
	_, err := s1.Append(testCtx(t), "late", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)
	require.NoError(t, s1.Close())
	// A marker written while the store is down is found by the catch-up
	// from the saved offsets.
	other := openStore(t, c, topic)
	_, err = other.DeleteStream(testCtx(t), "late", eventstore.Exact(1))
	require.NoError(t, err)
	waitSettled(t, other)

	var logs bytes.Buffer
	s2 := openStore(t, c, topic, WithIndexDir(dir), WithLogger(logTo(&logs)))
	require.Empty(t, logs.String(), "the saved index was used")
	require.Positive(t, s2.indexed.Load(), "the marker written since was read from the topic")
	require.Less(t, s2.indexed.Load(), int64(3), "only what was written since was read")
	requireLifecycle(t, s2)
	_, err = collectStream(t, s2, "late")
	require.ErrorIs(t, err, eventstore.ErrStreamDeleted)
	fresh := openStore(t, c, topic)
	requireLifecycle(t, fresh)
	requireSameIndex(t, fresh, s2)
}

// TestIndexDirOldFormat: an index saved in format 1 (before the lifecycle
// markers) is not trusted: the store builds from the topic, saying why, and
// saves format 2 at Close.
func TestIndexDirOldFormat(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	dir := t.TempDir()

	s1 := openStore(t, c, topic, WithIndexDir(dir))
	lifecycleLog(t, s1)
	require.NoError(t, s1.Close())
	// Rewrite the file's format number to 1, with a valid checksum.
	data, err := os.ReadFile(s1.indexFile())
	require.NoError(t, err)
	at := len(indexMagic) + 1 // after the magic's length byte and the magic
	require.Equal(t, byte(indexFormat), data[at])
	data[at] = 1
	binary.BigEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], castagnoli))
	require.NoError(t, os.WriteFile(s1.indexFile(), data, 0o644))

	var logs bytes.Buffer
	s2 := openStore(t, c, topic, WithIndexDir(dir), WithLogger(logTo(&logs)))
	require.Contains(t, logs.String(), "format 1")
	require.Positive(t, s2.indexed.Load(), "built from the topic")
	requireLifecycle(t, s2)
	require.NoError(t, s2.Close())

	logs.Reset()
	s3 := openStore(t, c, topic, WithIndexDir(dir), WithLogger(logTo(&logs)))
	require.Empty(t, logs.String(), "the index saved by the rebuilt store is used")
	requireLifecycle(t, s3)
}
