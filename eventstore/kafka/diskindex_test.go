package kafka

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
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
