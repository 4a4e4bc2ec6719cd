package kafka

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/kafka/pebbleindex"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// appendRandom appends n random appends (1-3 events, some IDs not UUIDs)
// to 30 streams.
func appendRandom(t *testing.T, s *Store, rng *rand.Rand, n int) {
	t.Helper()
	for i := range n {
		evs := make([]eventstore.Event, 1+rng.IntN(3))
		for k := range evs {
			evs[k] = ev("T", i*10+k)
			if rng.IntN(4) == 0 {
				evs[k].ID = fmt.Sprintf("cmd-%d-%d-%d", rng.Uint32(), i, k)
			}
		}
		_, err := s.Append(testCtx(t), fmt.Sprintf("s-%d", rng.IntN(30)), eventstore.Any, evs...)
		require.NoError(t, err)
	}
}

// forIndexVariants runs f for the saved index file (disk false) and for
// the disk-resident index (WithDiskIndex, disk true).
func forIndexVariants(t *testing.T, f func(t *testing.T, disk bool)) {
	t.Run("file", func(t *testing.T) { f(t, false) })
	t.Run("disk", func(t *testing.T) { f(t, true) })
}

// withIndex is WithIndexDir(dir), with WithDiskIndex when disk is set
// (with a small cache, so that streams go to disk and come back).
func withIndex(dir string, disk bool) Option {
	return func(o *options) {
		WithIndexDir(dir)(o)
		if disk {
			WithDiskIndex(pebbleindex.Open, 24)(o)
		}
	}
}

// savedIndexPath returns the path of the saved index of topic in dir: the
// index file, or the disk index's directory.
func savedIndexPath(topic, dir string, disk bool) string {
	s := &Store{topic: topic, opts: options{indexDir: dir}}
	if disk {
		return s.diskDir()
	}
	return s.indexFile()
}

// logTo returns a logger writing into buf.
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

// TestIndexDirRestart: a store reopened with WithIndexDir after a clean
// Close reads only what was appended since (by itself or another store),
// and has the index a store building from scratch has; appends and
// idempotent repeats work on it.
func TestIndexDirRestart(t *testing.T) { forIndexVariants(t, testIndexDirRestart) }

func testIndexDirRestart(t *testing.T, disk bool) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))

	s1 := openStore(t, c, topic, withIndex(dir, disk))
	appendRandom(t, s1, rng, 200)
	first := s1.indexed.Load()
	require.NoError(t, s1.Close())
	_, err := os.Stat(savedIndexPath(topic, dir, disk))
	require.NoError(t, err)

	other := openStore(t, c, topic) // appends while the first store is down
	appendRandom(t, other, rng, 20)
	once := ev("T", 1)
	once.ID = eventstore.NewEventID()
	res, err := other.Append(testCtx(t), "repeat-me", eventstore.NoStream, once)
	require.NoError(t, err)

	waitSettled(t, other)
	var logs bytes.Buffer
	s2 := openStore(t, c, topic, withIndex(dir, disk), WithLogger(logTo(&logs)))
	require.Empty(t, logs.String(), "the saved index was used")
	require.Less(t, s2.indexed.Load(), int64(100), "read only what was appended since (first start indexed %d)", first)
	requireSameIndex(t, openStore(t, c, topic), s2)

	// The reopened store appends and recognises repeats.
	again, err := s2.Append(testCtx(t), "repeat-me", eventstore.NoStream, once)
	require.NoError(t, err)
	require.Equal(t, res.Version, again.Version)
	appendRandom(t, s2, rng, 20)
	waitSettled(t, s2)
	require.NoError(t, s2.Close())
	requireSameIndex(t, openStore(t, c, topic), openStore(t, c, topic, withIndex(dir, disk)))
}

// TestIndexDirDistrust: a saved index that no longer describes the log,
// or is damaged, is not used: the store says why and builds the same
// index a store without the option builds. Damage is any truncation (a
// crash while writing, had the rename not been atomic) or a flipped bit.
func TestIndexDirDistrust(t *testing.T) { forIndexVariants(t, testIndexDirDistrust) }

func testIndexDirDistrust(t *testing.T, disk bool) {
	c := kafkatest.New(t)
	ctx := testCtx(t)
	rng := rand.New(rand.NewPCG(5, 6))
	setup := func(t *testing.T) (topic, dir string) {
		topic = kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
		dir = t.TempDir()
		s := openStore(t, c, topic, withIndex(dir, disk))
		appendRandom(t, s, rng, 60)
		// Commit markers are written after EndTxn returns: on a 3-node
		// cluster the last ones landed between the two stores that
		// reopen compares (next 85 vs 87 in CI).
		waitSettled(t, s)
		require.NoError(t, s.Close())
		return topic, dir
	}
	reopen := func(t *testing.T, topic, dir, reason string) {
		t.Helper()
		var logs bytes.Buffer
		s := openStore(t, c, topic, withIndex(dir, disk), WithLogger(logTo(&logs)))
		require.Contains(t, logs.String(), "not using the saved stream index")
		require.Contains(t, logs.String(), reason)
		requireSameIndex(t, openStore(t, c, topic), s)
	}

	t.Run("Damaged", func(t *testing.T) {
		topic, dir := setup(t)
		if disk {
			damageDiskIndex(t, c, topic, dir, setup, reopen)
			return
		}
		s := &Store{topic: topic, opts: options{indexDir: dir}}
		good, err := os.ReadFile(s.indexFile())
		require.NoError(t, err)
		for _, n := range []int{0, 3, len(good) / 3, len(good) - 5, len(good) - 1} {
			require.NoError(t, os.WriteFile(s.indexFile(), good[:n], 0o644))
			reopen(t, topic, dir, "damaged")
		}
		flipped := bytes.Clone(good)
		flipped[len(flipped)/2] ^= 0x10
		require.NoError(t, os.WriteFile(s.indexFile(), flipped, 0o644))
		reopen(t, topic, dir, "damaged")
	})
	t.Run("Recreated", func(t *testing.T) {
		topic, dir := setup(t)
		deleteTopic(t, c, topic)
		c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
		reopen(t, topic, dir, "deleted and re-created")
	})
	t.Run("PartitionsAdded", func(t *testing.T) {
		topic, dir := setup(t)
		admin, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
		require.NoError(t, err)
		defer admin.Close()
		require.NoError(t, admin.CreatePartitions(topic, 3, nil, false))
		waitPartitionCount(t, c, topic, 3)
		var logs bytes.Buffer
		s, err := New(ctx, c.Client(t), topic, withIndex(dir, disk), WithLogger(logTo(&logs)))
		require.NoError(t, err)
		defer s.Close()
		require.Contains(t, logs.String(), "has 3 partitions, the saved index 2")
		requireSameIndex(t, openStore(t, c, topic), s)
	})
	t.Run("Truncated", func(t *testing.T) {
		// A log that ends below the saved offset, as after an unclean
		// leader election: simulated by a saved index that claims more.
		topic, dir := setup(t)
		s := openStore(t, c, topic, withIndex(dir, disk))
		ix := memIndex(s, 1)
		ix.mu.Lock()
		ix.next += 1000
		ix.mu.Unlock()
		require.NoError(t, s.Close())
		reopen(t, topic, dir, "truncated")
	})
	t.Run("OtherTopic", func(t *testing.T) {
		topic, dir := setup(t)
		other := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, other, 2, kafkatest.EventsTopicConfig())
		from := savedIndexPath(topic, dir, disk)
		to := savedIndexPath(other, dir, disk)
		require.NoError(t, os.Rename(from, to))
		reopen(t, other, dir, "is the index of topic")
	})
}

// TestIndexDirSavedMidStream: an index saved while appends go on (by the
// store itself and by another one) is a prefix of the log, so a store
// loading it after any number of further appends, as after a crash that
// left an older file, has the index of a store that built from scratch.
func TestIndexDirSavedMidStream(t *testing.T) { forIndexVariants(t, testIndexDirSavedMidStream) }

func testIndexDirSavedMidStream(t *testing.T, disk bool) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	dir := t.TempDir()
	s1 := openStore(t, c, topic, withIndex(dir, disk))
	other := openStore(t, c, topic)
	for round := range 4 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			appendRandom(t, other, rand.New(rand.NewPCG(uint64(round), 9)), 40)
		}()
		appendRandom(t, s1, rand.New(rand.NewPCG(uint64(round), 10)), 20)
		require.NoError(t, s1.saveIndex(testCtx(t)))
		appendRandom(t, s1, rand.New(rand.NewPCG(uint64(round), 11)), 20)
		<-done
		// An append returns once its commit is accepted; Kafka writes the
		// markers to the partitions just after. Two stores opened one
		// after the other during that moment end their start at
		// different offsets, so wait for the markers first.
		waitSettled(t, other)
		saved := dir
		if disk {
			// The disk index is open in s1: open a copy of what it has
			// saved (a checkpoint of the database).
			saved = t.TempDir()
			require.NoError(t, s1.db.(*pebbleindex.DB).Checkpoint(savedIndexPath(topic, saved, true)))
		}
		requireSameIndex(t, openStore(t, c, topic), openStore(t, c, topic, withIndex(saved, disk)))
	}
}

// TestIndexDirSavedPeriodically: a running store saves its index now and
// then, so a start after a crash (no Close) reads only what came after the
// last save.
func TestIndexDirSavedPeriodically(t *testing.T) {
	forIndexVariants(t, testIndexDirSavedPeriodically)
}

func testIndexDirSavedPeriodically(t *testing.T, disk bool) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	dir := t.TempDir()
	often := func(o *options) { o.indexSaveEvery = 20 * time.Millisecond }
	s1 := openStore(t, c, topic, withIndex(dir, disk), often)
	appendRandom(t, s1, rand.New(rand.NewPCG(7, 8)), 100)
	done := time.Now()
	var total int64
	for p := range s1.idx {
		_, _, streams := indexStreams(t, s1, int32(p))
		for _, st := range streams {
			total += st.version
		}
	}
	// Wait for a save that started after the last append.
	if disk {
		time.Sleep(100 * time.Millisecond)
		// s1 "crashes": it is never closed before the next start, which
		// opens a copy of its database as the saves left it.
		crashed := t.TempDir()
		require.NoError(t, s1.db.(*pebbleindex.DB).Checkpoint(savedIndexPath(topic, crashed, true)))
		dir = crashed
	} else {
		probe := &Store{topic: topic, opts: options{indexDir: dir}}
		require.Eventually(t, func() bool {
			fi, err := os.Stat(probe.indexFile())
			return err == nil && fi.ModTime().After(done.Add(30*time.Millisecond))
		}, 10*time.Second, 10*time.Millisecond)
	}
	// s1 "crashes": it is never closed before the next start.
	waitSettled(t, s1)
	var logs bytes.Buffer
	s2 := openStore(t, c, topic, withIndex(dir, disk), WithLogger(logTo(&logs)))
	require.Empty(t, logs.String())
	require.Less(t, s2.indexed.Load(), total/2, "the start read only what came after the last save (%d events in all)", total)
	requireSameIndex(t, openStore(t, c, topic), s2)
}

// waitSettled waits until no transaction is open on s's topic (the last
// stable offset of every partition is its high watermark).
func waitSettled(t *testing.T, s *Store) {
	t.Helper()
	ctx := testCtx(t)
	parts := make([]int32, s.nparts)
	for p := range parts {
		parts[p] = int32(p)
	}
	for {
		lso, err1 := s.f.listOffsets(ctx, parts, sarama.OffsetNewest, sarama.ReadCommitted)
		hw, err2 := s.f.listOffsets(ctx, parts, sarama.OffsetNewest, sarama.ReadUncommitted)
		if err1 == nil && err2 == nil && maps.Equal(lso, hw) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("transactions still open on %s: %v %v", s.topic, err1, err2)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// damageDiskIndex damages disk indexes (of setup) in several ways and
// checks that reopen (a store on it) builds from the topic, or, for a
// damaged stream entry (read only when the stream is used), that the
// stream's reads and appends fail as unavailable rather than use it.
func damageDiskIndex(t *testing.T, c *kafkatest.Cluster, topic, dir string, setup func(t *testing.T) (string, string), reopen func(t *testing.T, topic, dir, reason string)) {
	put := func(topic, dir string, key, value []byte) {
		db, err := pebbleindex.Open(savedIndexPath(topic, dir, true))
		require.NoError(t, err)
		require.NoError(t, db.Write([][]byte{key}, [][]byte{value}, true))
		require.NoError(t, db.Close())
	}
	put(topic, dir, diskMetaKey, []byte{0xff, 0xff})
	reopen(t, topic, dir, "damaged")

	topic, dir = setup(t)
	put(topic, dir, diskCheckpointKey(1), []byte{0xff})
	reopen(t, topic, dir, "damaged")

	topic, dir = setup(t)
	path := savedIndexPath(topic, dir, true)
	files, err := os.ReadDir(path)
	require.NoError(t, err)
	for _, f := range files {
		if !f.IsDir() && f.Name() != "LOCK" {
			require.NoError(t, os.Truncate(filepath.Join(path, f.Name()), 0))
		}
	}
	reopen(t, topic, dir, "damaged")

	topic, dir = setup(t)
	var stream string
	for i := range 30 {
		if id := fmt.Sprintf("s-%d", i); wire.PartitionString(id, 2) == 0 {
			stream = id
			break
		}
	}
	put(topic, dir, append(diskStreamPrefix(0), stream...), []byte{0xff, 0xff, 0xff})
	var logs bytes.Buffer
	s := openStore(t, c, topic, withIndex(dir, true), WithLogger(logTo(&logs)))
	require.Empty(t, logs.String())
	for _, err := range s.ReadStream(testCtx(t), stream, 1) {
		require.ErrorIs(t, err, eventstore.ErrUnavailable)
		break
	}
	_, err = s.Append(testCtx(t), stream, eventstore.Any, ev("T", 1))
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
}

// waitPartitionCount waits until every broker's metadata gives topic n
// partitions: on a cluster of several brokers, one may still answer with
// the old count for a moment after partitions were added.
func waitPartitionCount(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	client := c.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, b := range client.Brokers() {
			_ = b.Open(client.Config()) // no-op when open
			md, err := b.GetMetadata(&sarama.MetadataRequest{Version: 1, Topics: []string{topic}})
			if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != n {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the brokers do not all give %s %d partitions after 30s", topic, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
