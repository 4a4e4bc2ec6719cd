package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/indexdb"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// The disk-resident index (WithDiskIndex): the streams of each partition
// are entries of a pebble database in the index directory, and only a
// bounded number of them are in memory. partIndex (index.go) keeps its
// logic, its lock and its invariants; where the in-memory index reads its
// map, the disk index reads a diskTable: the streams changed since the
// last flush (dirty, never evicted), a bounded cache of clean ones, and
// pebble behind them.
//
// A flush writes every dirty stream of the partition and the partition's
// checkpoint (its catch-up offset and its count of foreign records) in
// one pebble batch, under the index's lock, at the end of one of its
// methods, where the index's invariants hold: so what is on disk is
// always the index of one moment, a prefix of the log with nothing that
// was not committed (the index never holds anything else). pebble commits
// a batch atomically, and after a crash its write-ahead log recovers a
// prefix of the committed batches, so the index on disk after a crash is
// that of an earlier flush, which the catch-up at start continues from,
// exactly as from an older index file. Flushes between the saves of
// WithIndexDir (every 5 minutes and at Close, which sync the log) are not
// synced to disk.
//
// Keys: "m" the identity of the log the database indexes (as in the
// index file: format, cluster, topic ID, topic, partitions); "c" +
// partition (4 bytes, big-endian) the checkpoint; "s" + partition + stream
// ID the stream's state (encodeState).

// diskFormat 2 may hold a fresh build that did not finish (key "f",
// diskbulk.go), which a reader of format 1 would not know to distrust;
// format 1 never has one and is still read.
const diskFormat = 2

var diskMetaKey = []byte("m")

func diskCheckpointKey(p int32) []byte {
	return binary.BigEndian.AppendUint32([]byte("c"), uint32(p))
}

func diskStreamPrefix(p int32) []byte {
	return binary.BigEndian.AppendUint32([]byte("s"), uint32(p))
}

// IndexDB is the embedded key-value database that the disk-resident
// stream index of [WithDiskIndex] keeps its entries in. Package
// eventstore/kafka/pebbleindex has the one the store is measured and
// tested with, on pebble; its Open is the usual argument of WithDiskIndex.
// The indexes of different partitions call its methods concurrently.
type IndexDB interface {
	// Get calls fn with the value of key when the database has it; the
	// value is valid only during the call.
	Get(key []byte, fn func(value []byte)) (found bool, err error)
	// Write sets keys[i] to values[i] for every i in one atomic batch;
	// with sync, it returns once the batch is on stable storage. Without
	// sync a crash may lose the latest batches, but must leave a prefix
	// of the batches written, never a part of one.
	Write(keys, values [][]byte, sync bool) error
	// Scan calls fn with every key in [from, to) and its value, in key
	// order; they are valid only during the call. An error of fn ends
	// the scan and is returned.
	Scan(from, to []byte, fn func(key, value []byte) error) error
	// Close closes the database.
	Close() error
}

// DefaultDiskIndexCache is the number of streams the disk-resident index
// of [WithDiskIndex] keeps in memory by default, over all partitions.
const DefaultDiskIndexCache = 100_000

// errIndexClosed is the error of a disk index after the store closed it.
var errIndexClosed = errors.New("the store is closed")

// diskTable is the streams of one partition in a disk index. It belongs to
// its partIndex and is used only under its lock.
type diskTable struct {
	db     IndexDB
	part   int32
	topic  string
	window int
	// dirty holds the streams changed since the last flush; clean is a
	// cache of at most capacity unchanged ones.
	dirty, clean map[string]*streamState
	capacity     int
	// flushAt is the number of dirty streams at which the index flushes.
	flushAt int
	// bulkDB is set during a fresh build: its records become build
	// entries, pending in bulkKeys and bulkValues, in this build database
	// (diskbulk.go).
	bulkDB               IndexDB
	bulkKeys, bulkValues [][]byte
	// err is the first error of the database (or errIndexClosed): from
	// then on the index answers nothing and moves no further.
	err error
}

func newDiskTable(db IndexDB, topic string, p int32, window, capacity int) *diskTable {
	capacity = max(capacity, 1)
	return &diskTable{
		db: db, part: p, topic: topic, window: window,
		dirty: map[string]*streamState{}, clean: make(map[string]*streamState, capacity),
		capacity: capacity, flushAt: max(capacity/4, 1),
	}
}

// failed returns the error that stopped the table, wrapped for callers.
func (t *diskTable) failed() error {
	if t.err == nil {
		return nil
	}
	if errors.Is(t.err, errIndexClosed) {
		// Closed with the store: the error the in-memory index's callers
		// give after Close, not a fault of the index.
		return fmt.Errorf("%w: kafka: partition %d", eventstore.ErrClosed, t.part)
	}
	return fmt.Errorf("%w: kafka: the stream index on disk of partition %d: %w", eventstore.ErrUnavailable, t.part, t.err)
}

func (t *diskTable) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// get returns the state of stream id, or nil when the partition has none
// (or the table failed).
func (t *diskTable) get(id string) *streamState {
	if st := t.dirty[id]; st != nil {
		return st
	}
	if st := t.clean[id]; st != nil {
		return st
	}
	if t.err != nil {
		return nil
	}
	key := append(diskStreamPrefix(t.part), id...)
	var st *streamState
	var derr error
	found, err := t.db.Get(key, func(v []byte) { st, derr = decodeState(v, t.topic, t.part, t.window) })
	if err != nil {
		t.fail(err)
		return nil
	}
	if !found {
		return nil
	}
	if derr != nil {
		t.fail(fmt.Errorf("stream %q: %w", id, derr))
		return nil
	}
	t.cache(id, st)
	return st
}

// getKey is get for a record key, without converting it for the maps.
func (t *diskTable) getKey(key []byte) *streamState {
	if st := t.dirty[string(key)]; st != nil {
		return st
	}
	if st := t.clean[string(key)]; st != nil {
		return st
	}
	return t.get(string(key))
}

// cache adds a clean stream, evicting others beyond the capacity.
func (t *diskTable) cache(id string, st *streamState) {
	for k := range t.clean {
		if len(t.clean) < t.capacity {
			break
		}
		delete(t.clean, k) // map order: an arbitrary stream
	}
	t.clean[id] = st
}

// mutable returns the state of stream id (new when it has none) as one
// that the caller changes: it stays in memory until the next flush.
func (t *diskTable) mutable(id string) *streamState {
	if st := t.dirty[id]; st != nil {
		return st
	}
	st := t.get(id)
	if st == nil {
		st = &streamState{}
	} else {
		delete(t.clean, id)
	}
	t.dirty[id] = st
	return st
}

// flush writes the dirty streams and the checkpoint (next, foreign) in
// one batch; with sync, the log is synced to disk.
func (t *diskTable) flush(next, foreign int64, sync bool) error {
	if t.err != nil {
		return t.failed()
	}
	keys := make([][]byte, 0, len(t.dirty)+1)
	values := make([][]byte, 0, len(t.dirty)+1)
	prefix := diskStreamPrefix(t.part)
	e := &encoder{}
	for id, st := range t.dirty {
		start := len(e.b)
		encodeState(e, st)
		keys = append(keys, append(prefix[:len(prefix):len(prefix)], id...))
		values = append(values, e.b[start:len(e.b):len(e.b)])
	}
	start := len(e.b)
	e.int(next)
	e.int(foreign)
	keys = append(keys, diskCheckpointKey(t.part))
	values = append(values, e.b[start:])
	if err := t.db.Write(keys, values, sync); err != nil {
		t.fail(err)
		return t.failed()
	}
	for id, st := range t.dirty {
		t.cache(id, st)
	}
	clear(t.dirty)
	return nil
}

// encodeState encodes a stream's state: the index file's entry after the
// stream ID's length (partIndex.encode) and a disk index entry.
func encodeState(e *encoder, st *streamState) {
	e.int(st.version)
	e.uint(uint64(len(st.runs)))
	var off, ver int64
	for _, r := range st.runs {
		e.int(r.offset - off)
		e.int(r.version - ver)
		off, ver = r.offset, r.version
	}
	n := len(st.ids)
	e.uint(uint64(n))
	for k := range n { // oldest first
		key := st.ids[(st.idNext+k)%n]
		e.raw(key[:])
	}
	if st.corrupt == nil {
		e.uint(0)
	} else {
		e.uint(1)
		e.int(st.corrupt.Offset)
		e.str(st.corrupt.Reason)
	}
	if st.life == nil {
		e.uint(0)
	} else {
		e.uint(1)
		e.int(st.life.DeletedAt)
		e.int(st.life.TruncatedBefore)
	}
}

// decodeState decodes what encodeState wrote, keeping the latest window
// IDs.
func decodeState(b []byte, topic string, p int32, window int) (*streamState, error) {
	d := &decoder{b: b}
	st := &streamState{version: d.int()}
	nr := d.uint()
	if nr > uint64(len(d.b)) {
		return nil, errors.New("bad run count")
	}
	if nr > 0 {
		st.runs = make([]run, nr)
		var off, ver int64
		for i := range st.runs {
			off += d.int()
			ver += d.int()
			st.runs[i] = run{offset: off, version: ver}
		}
	}
	ni := d.uint()
	if ni > uint64(len(d.b))/16 {
		return nil, errors.New("bad ID count")
	}
	keep := max(0, min(int(ni), window))
	if keep > 0 {
		st.ids = make([]idKey, 0, keep)
	}
	for k := range int(ni) {
		b := d.raw(16)
		if k >= int(ni)-keep {
			st.ids = append(st.ids, idKey(b))
		}
	}
	if d.uint() == 1 {
		st.corrupt = &wire.DecodeError{Topic: topic, Partition: p, Offset: d.int(), Reason: d.str()}
	}
	if d.uint() == 1 {
		st.life = &eventstore.StreamLife{DeletedAt: d.int(), TruncatedBefore: d.int()}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("damaged entry: %w", d.errOr("trailing bytes"))
	}
	return st, nil
}

// diskDir returns the directory of the disk index of the store's topic.
func (s *Store) diskDir() string {
	return strings.TrimSuffix(s.indexFile(), ".kafkaes-index") + ".kafkaes-pebble"
}

// openDiskIndex opens the disk index in the index directory into s.idx
// when it exists and still describes the topic's log, and returns why it
// did not (empty when it did, or when there was none): then it has
// emptied the database, and s.idx holds empty disk indexes.
func (s *Store) openDiskIndex(ctx context.Context) (why string, err error) {
	dir := s.diskDir()
	if err := os.MkdirAll(s.opts.indexDir, 0o755); err != nil {
		return "", fmt.Errorf("kafka: open the stream index on disk: %w", err)
	}
	db, err := s.opts.diskOpen(dir)
	if err != nil && !errors.Is(err, indexdb.ErrDamaged) {
		// Not damage: most likely another store has the database open (a
		// lock): never remove a database another process may be using.
		return "", fmt.Errorf("kafka: open the stream index on disk %s (each store needs a WithIndexDir of its own with WithDiskIndex): %w", dir, err)
	}
	if err != nil {
		why = fmt.Sprintf("%s is damaged: %v", dir, err)
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("kafka: remove the damaged stream index %s: %w", dir, err)
		}
		if db, err = s.opts.diskOpen(dir); err != nil {
			return "", fmt.Errorf("kafka: open the stream index on disk: %w", err)
		}
	}
	s.db = db
	now, err := s.identity(ctx)
	if err != nil {
		return "", fmt.Errorf("kafka: open the stream index on disk: ask for the topic's identity: %w", err)
	}
	nexts, foreign, fresh, doubt, err := s.checkDiskIndex(ctx, now)
	if err != nil {
		return "", err
	}
	if why == "" {
		why = doubt
	}
	if doubt != "" || fresh {
		if err := s.resetDiskIndex(dir, now); err != nil {
			return "", err
		}
		nexts, foreign = make([]int64, s.nparts), make([]int64, s.nparts)
	}
	// An emptied database gets a bulk load (diskbulk.go); a build
	// database a crash left is removed either way.
	bulk := doubt != "" || fresh
	if err := s.removeBulkDB(); err != nil {
		return "", err
	}
	if bulk {
		if s.bulkDB, err = s.opts.diskOpen(s.bulkDir()); err != nil {
			return "", fmt.Errorf("kafka: open the build database of the stream index on disk: %w", err)
		}
	}
	capacity := s.opts.diskCache / int(s.nparts)
	for p := range s.idx {
		ix := newPartIndex()
		ix.streams = nil
		ix.disk = newDiskTable(s.db, s.topic, int32(p), s.opts.idWindow, capacity)
		ix.disk.bulkDB = s.bulkDB // nil unless bulk
		ix.next, ix.foreign = nexts[p], foreign[p]
		s.idx[p] = ix
	}
	return why, nil
}

// checkDiskIndex reads the identity and the checkpoints of the open disk
// index and checks them against the log as loadIndex does: it returns
// the checkpoints, fresh for a database without an identity (new), and
// why it does not describe the log any more.
func (s *Store) checkDiskIndex(ctx context.Context, now logIdentity) (nexts, foreign []int64, fresh bool, why string, err error) {
	var meta []byte
	found, err := s.db.Get(diskMetaKey, func(v []byte) { meta = bytes.Clone(v) })
	if err != nil {
		return nil, nil, false, fmt.Sprintf("%s cannot be read: %v", s.diskDir(), err), nil
	}
	if !found {
		return nil, nil, true, "", nil
	}
	d := &decoder{b: meta}
	format := d.uint()
	saved := logIdentity{cluster: d.str()}
	copy(saved.topicID[:], d.raw(16))
	topic := d.str()
	saved.parts = int(d.uint())
	switch {
	case d.err != nil || len(d.b) != 0:
		return nil, nil, false, fmt.Sprintf("%s is damaged: %v", s.diskDir(), d.errOr("trailing bytes")), nil
	case format != diskFormat && format != 1:
		return nil, nil, false, fmt.Sprintf("%s is a stream index of format %d, this version reads formats 1 and %d", s.diskDir(), format, diskFormat), nil
	case topic != s.topic:
		return nil, nil, false, fmt.Sprintf("%s is the index of topic %q", s.diskDir(), topic), nil
	}
	if why := saved.mismatch(now, s.topic); why != "" {
		return nil, nil, false, why, nil
	}
	var building []byte
	if _, err := s.db.Get(diskBuildingKey, func(v []byte) { building = bytes.Clone(v) }); err != nil {
		return nil, nil, false, fmt.Sprintf("%s cannot be read: %v", s.diskDir(), err), nil
	}
	if len(building) > 0 && (&decoder{b: building}).uint() != 0 {
		return nil, nil, false, fmt.Sprintf("%s holds a fresh build that did not finish", s.diskDir()), nil
	}
	nexts, foreign = make([]int64, saved.parts), make([]int64, saved.parts)
	for p := range nexts {
		var cp []byte
		found, err := s.db.Get(diskCheckpointKey(int32(p)), func(v []byte) { cp = bytes.Clone(v) })
		if err != nil {
			return nil, nil, false, fmt.Sprintf("%s cannot be read: %v", s.diskDir(), err), nil
		}
		if !found {
			continue // never flushed: no entries either (they are written with it)
		}
		d := &decoder{b: cp}
		nexts[p], foreign[p] = d.int(), d.int()
		if d.err != nil || len(d.b) != 0 || nexts[p] < 0 {
			return nil, nil, false, fmt.Sprintf("%s is damaged: the checkpoint of partition %d", s.diskDir(), p), nil
		}
	}
	why, err = s.checkOffsets(ctx, nexts)
	return nexts, foreign, false, why, err
}

// resetDiskIndex empties the disk index and writes the identity of the
// log it will index, synced, before anything else is written to it.
func (s *Store) resetDiskIndex(dir string, now logIdentity) error {
	if err := s.db.Close(); err != nil {
		s.opts.logger.Warn("kafka: close the stream index on disk", slog.String("dir", dir), slog.Any("error", err))
	}
	s.db = nil
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("kafka: empty the stream index %s: %w", dir, err)
	}
	db, err := s.opts.diskOpen(dir)
	if err != nil {
		return fmt.Errorf("kafka: open the stream index on disk: %w", err)
	}
	s.db = db
	e := &encoder{}
	e.uint(diskFormat)
	e.str(now.cluster)
	e.raw(now.topicID[:])
	e.str(s.topic)
	e.uint(uint64(now.parts))
	f := &encoder{}
	f.uint(1) // a fresh build is under way (diskbulk.go)
	if err := db.Write([][]byte{diskMetaKey, diskBuildingKey}, [][]byte{e.b, f.b}, true); err != nil {
		return fmt.Errorf("kafka: write the stream index on disk: %w", err)
	}
	return nil
}

// flushDisk writes every partition's changes and checkpoint to the disk
// index and syncs its log (the disk index's save).
func (s *Store) flushDisk() error {
	var errs []error
	for _, ix := range s.idx {
		if err := ix.(*partIndex).flush(true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeDisk stops the disk indexes and closes their database.
func (s *Store) closeDisk() error {
	if s.db == nil {
		return nil
	}
	for _, ix := range s.idx {
		if pi, ok := ix.(*partIndex); ok {
			pi.closeDisk()
		}
	}
	err := s.db.Close()
	s.db = nil
	return errors.Join(err, s.removeBulkDB())
}
