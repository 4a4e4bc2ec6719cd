package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/kafka/pebbleindex"
)

// TestDiskTableBounded: a disk index with a cache of 10 streams holds at
// most 10 clean and fewer than its flush threshold of changed streams in
// memory however many streams it indexes, and answers as the in-memory
// index does for streams that went to disk and came back; a new table on
// the same database, from the last flush's checkpoint, has the same
// streams.
func TestDiskTableBounded(t *testing.T) {
	db, err := pebbleindex.Open(t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	const window, capacity = 4, 10
	disk := newPartIndex()
	disk.streams = nil
	disk.disk = newDiskTable(db, "t", 0, window, capacity)
	mem := newPartIndex()
	rng := rand.New(rand.NewPCG(1, 2))
	versions := map[string]int64{}
	for off := range int64(3000) {
		id := fmt.Sprintf("s-%d", rng.IntN(500))
		ev := eventstore.Event{ID: eventstore.NewEventID(), Type: "T"}
		v := versions[id] + 1
		versions[id] = v
		require.True(t, mem.applyOwn(id, v, []int64{off}, []eventstore.Event{ev}, window))
		require.True(t, disk.applyOwn(id, v, []int64{off}, []eventstore.Event{ev}, window))
		require.LessOrEqual(t, len(disk.disk.clean), capacity)
		require.Less(t, len(disk.disk.dirty), disk.disk.flushAt)
	}
	same := func(ix *partIndex) {
		t.Helper()
		for id := range versions {
			m, d := mem.lookup(id), ix.lookup(id)
			require.NotNil(t, d, id)
			require.Equal(t, m.version, d.version, id)
			require.Equal(t, m.runs, d.runs, id)
			require.Equal(t, orderedIDs(m), orderedIDs(d), id)
			v, ok := d.lookupID(idString(m.ids[m.idNext]))
			require.True(t, ok, id)
			require.Equal(t, m.version-int64(len(m.ids))+1, v, id)
		}
		require.NoError(t, ix.failed())
	}
	same(disk)
	require.NoError(t, disk.flush(true))
	again := newPartIndex()
	again.streams = nil
	again.disk = newDiskTable(db, "t", 0, window, capacity)
	same(again)
}

// idString returns the canonical UUID whose key is k.
func idString(k idKey) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", k[0:4], k[4:6], k[6:8], k[8:10], k[10:16])
}

// TestDiskTableClosed: a disk index closed with its store answers with
// eventstore.ErrClosed, as the store's reads after Close do, not with
// eventstore.ErrUnavailable (a fault of the index).
func TestDiskTableClosed(t *testing.T) {
	db, err := pebbleindex.Open(t.TempDir())
	require.NoError(t, err)
	defer db.Close()
	ix := newPartIndex()
	ix.streams = nil
	ix.disk = newDiskTable(db, "t", 0, 4, 10)
	require.True(t, ix.applyOwn("s", 1, []int64{0}, []eventstore.Event{{ID: eventstore.NewEventID(), Type: "T"}}, 4))
	ix.closeDisk()
	err = ix.failed()
	require.ErrorIs(t, err, eventstore.ErrClosed)
	require.NotErrorIs(t, err, eventstore.ErrUnavailable)
	_, _, err = ix.eventsFrom("s", 1, func(int64, int64) {})
	require.ErrorIs(t, err, eventstore.ErrClosed)
}

// crashDB is a database whose writes fail from the limit-th on, as if
// the process had died there: what it holds is a prefix of the batches
// written. Without a limit (-1) it counts them.
type crashDB struct {
	*pebbleindex.DB
	n, limit *int
	// mu guards n: the indexes of different partitions write
	// concurrently (the build's indexers do).
	mu *sync.Mutex
}

func (d crashDB) op() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	*d.n++
	if *d.limit >= 0 && *d.n > *d.limit {
		return errors.New("crashed")
	}
	return nil
}

func (d crashDB) Write(keys, values [][]byte, sync bool) error {
	if err := d.op(); err != nil {
		return err
	}
	return d.DB.Write(keys, values, sync)
}

// TestDiskFreshBuildCrash: a fresh build of the disk index (the bulk load
// of diskbulk.go) that dies after any number of its database writes
// leaves a database the next start does not trust: it says so, empties
// it, and builds the index a store without an index directory builds.
// A build that finished is trusted and equal to it too. The topic holds
// foreign records (no key, no version header, a duplicate version) so
// that the fold judges them as the catch-up does.
func TestDiskFreshBuildCrash(t *testing.T) {
	defer func(b int) { bulkBatch = b }(bulkBatch)
	bulkBatch = 16
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	w := openStore(t, c, topic)
	appendRandom(t, w, rand.New(rand.NewPCG(5, 6)), 150)
	bad := encodedMsg(topic, "s-1", 99, "T")
	bad.Partition = w.Partition("s-1")
	noVersion := &sarama.ProducerMessage{Topic: topic, Partition: w.Partition("s-2"), Key: sarama.StringEncoder("s-2"), Value: sarama.StringEncoder("x")}
	keyless := &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder("x")}
	rawProduce(t, c, bad, noVersion, keyless)
	for i := range 20 {
		_, err := w.Append(testCtx(t), fmt.Sprintf("after-%d", i%7), eventstore.Any, ev("T", i))
		require.NoError(t, err)
	}
	waitSettled(t, w)
	want := openStore(t, c, topic)

	open := func(dir string, limit int) (*Store, int, error) {
		n := 0
		var mu sync.Mutex
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := New(ctx, c.Client(t), topic, WithIndexDir(dir), WithDiskIndex(func(dir string) (crashDB, error) {
			db, err := pebbleindex.Open(dir)
			return crashDB{DB: db, n: &n, limit: &limit, mu: &mu}, err
		}, 24))
		if err == nil {
			t.Cleanup(func() { _ = s.Close() })
		}
		mu.Lock()
		defer mu.Unlock()
		return s, n, err
	}
	dir := t.TempDir()
	s, total, err := open(dir, -1)
	require.NoError(t, err)
	requireSameIndex(t, want, s)
	require.NoDirExists(t, s.bulkDir(), "the build database is removed when the build ends")
	require.NoError(t, s.Close())
	// A build database that a killed process left is removed at the
	// next start, which trusts the finished index.
	leftover := s.bulkDir()
	require.NoError(t, os.MkdirAll(leftover, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(leftover, "000001.log"), []byte("x"), 0o644))
	var logs bytes.Buffer
	requireSameIndex(t, want, openStore(t, c, topic, withIndex(dir, true), WithLogger(logTo(&logs))))
	require.Empty(t, logs.String(), "a finished build is trusted")
	require.NoDirExists(t, leftover)
	require.Greater(t, total, 8, "writes of a fresh build")
	for limit := 1; limit < total; limit += 1 + limit/8 {
		dir := t.TempDir()
		_, _, err := open(dir, limit)
		if err == nil {
			continue // the build's writes were done: the catch-up's failed later
		}
		var logs bytes.Buffer
		s := openStore(t, c, topic, withIndex(dir, true), WithLogger(logTo(&logs)))
		require.Contains(t, logs.String(), "did not finish", "crash after %d of %d writes", limit, total)
		requireSameIndex(t, want, s)
		require.NoError(t, s.Close())
	}
}
