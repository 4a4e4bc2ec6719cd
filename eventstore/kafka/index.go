package kafka

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// streamIndex is the index of one partition of the events topic: stream
// -> state (version, offsets of its events, the latest event IDs, its
// lifecycle), built from the committed records below its catch-up offset
// (X in the package documentation) plus the store's own commits. It owns
// its lock and its invariants: every committed event below the catch-up
// offset is in it, nothing that is not committed ever is, and a stream's
// versions are 1..n at increasing offsets; callers read and change it
// only through these methods, each one step under its lock. partIndex
// (below) is the in-memory index; an index on local disk would implement
// the same methods.
type streamIndex interface {
	// check checks the append r against its stream as the index holds it
	// (see checkStream, txn.go), under the lock, so that the version,
	// the catch-up offset and the last offset it records agree.
	check(r *appendReq) (res eventstore.AppendResult, err error, done bool)
	// eventsFrom calls fn, under the lock, with the offset and version of
	// every event of stream from version from on (moved up by the
	// stream's lifecycle markers, or fromErr when they refuse the read),
	// and returns the first record of the stream that is not a valid
	// event (corrupt) and whether the stream exists (it has events or a
	// corrupt record). A disk index that stopped (diskindex.go) returns
	// exists true and its error as fromErr.
	eventsFrom(stream string, from int64, fn func(offset, version int64)) (exists bool, corrupt *wire.DecodeError, fromErr error)
	// knows reports whether the index holds the record at offset as an
	// event of the stream with key key (known), and whether it has read
	// the partition past offset (covered).
	knows(key []byte, offset int64) (known, covered bool)
	// nextOffset returns the catch-up offset: the first offset not yet
	// read by catch-up.
	nextOffset() int64

	// index adds the committed records of a catch-up's fetch response and
	// moves the catch-up offset to the response's; it returns the new
	// catch-up offset and whether it moved.
	index(topic string, p int32, r *partResult, window int) (next int64, advanced bool)
	// applyScanned adds the records of a conflict scan's span that
	// committed says are committed, from the catch-up offset (when the
	// span, read from offset from, covers it) up to end, the span's first
	// undecided record or its end to; the catch-up offset moves to end. It
	// does nothing while a catch-up runs (that one will get there).
	applyScanned(topic string, p int32, from, end, to int64, recs []record, committed func(record) bool, window int)
	// applyOwn records events this store has just committed (see
	// partIndex.applyOwn); addOwn remembers their offsets for the conflict
	// scan to skip, and ownRanges returns the latest such ranges.
	applyOwn(stream string, firstVersion int64, offsets []int64, events []eventstore.Event, window int) bool
	addOwn(offsets []int64)
	ownRanges() [][2]int64

	// noteUndecided records that the partition's first undecided record
	// (of an open transaction) is at offset (-1: none); caughtUp records
	// that a catch-up reached its target, with the first undecided
	// record. isBlocked and staleFor report on them.
	noteUndecided(offset int64)
	caughtUp(undecided int64)
	isBlocked() bool
	staleFor(d time.Duration) bool

	// lockCatch and tryLockCatch take the lock that serialises the
	// catch-ups of the partition (held while fetching and applying,
	// across network round trips); unlockCatch releases it.
	lockCatch()
	tryLockCatch() bool
	unlockCatch()
}

var _ streamIndex = (*partIndex)(nil)

// partIndex is the in-memory streamIndex: stream -> state, built from the
// committed records below next plus the store's own commits.
type partIndex struct {
	// catchMu serialises catch-ups of the partition.
	catchMu sync.Mutex

	mu sync.Mutex
	// next is the first offset not yet read by catch-up (X in the package
	// documentation): every committed event below it is in streams.
	next    int64
	streams map[string]*streamState
	// disk, when set, holds the streams instead of streams: the
	// disk-resident index (diskindex.go).
	disk *diskTable
	// foreign counts key-less or undecodable records the catch-up skipped.
	foreign int64
	// caughtAt is when a catch-up last reached the last stable offset.
	caughtAt time.Time
	// own are recent ranges [first, last] of offsets that hold only
	// records this store committed and indexed.
	own [][2]int64
	// undecidedAt is the offset of the first record of an open
	// transaction that the last catch-up or scan stopped at (-1: none),
	// undecidedSince when it was first seen there.
	undecidedAt    int64
	undecidedSince time.Time
}

// blockedAfter is how long a partition's first undecided record must stay
// undecided before the partition counts as blocked (a transaction open
// that long belongs to a dead or paused writer, or its markers are late
// because a broker is paused): appends to a blocked partition go in
// transactions of their own, so that their conflicts do not abort the
// appends to other partitions.
const blockedAfter = 500 * time.Millisecond

// noteUndecided records that the partition's first undecided record is at
// offset (-1: none).
func (ix *partIndex) noteUndecided(offset int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.noteUndecidedLocked(offset)
}

// caughtUp records that a catch-up reached its target, with the first
// undecided record at undecided (-1: none).
func (ix *partIndex) caughtUp(undecided int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.caughtAt = time.Now()
	ix.noteUndecidedLocked(undecided)
}

// noteUndecidedLocked is noteUndecided under ix.mu.
func (ix *partIndex) noteUndecidedLocked(offset int64) {
	if offset != ix.undecidedAt {
		ix.undecidedAt, ix.undecidedSince = offset, time.Now()
	}
}

// isBlocked reports whether the same record has held the partition's
// catch-up back for blockedAfter.
func (ix *partIndex) isBlocked() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.undecidedAt >= 0 && time.Since(ix.undecidedSince) > blockedAfter
}

// staleFor reports whether the last complete catch-up is older than d.
func (ix *partIndex) staleFor(d time.Duration) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return time.Since(ix.caughtAt) > d
}

func newPartIndex() *partIndex {
	return &partIndex{streams: map[string]*streamState{}, undecidedAt: -1}
}

// lookup returns the state of stream id, nil when the partition has none.
func (ix *partIndex) lookup(id string) *streamState {
	if ix.disk != nil {
		return ix.disk.get(id)
	}
	return ix.streams[id]
}

// failed returns the error of a disk index that stopped (nil in memory).
func (ix *partIndex) failed() error {
	if ix.disk == nil {
		return nil
	}
	return ix.disk.failed()
}

// maybeFlush writes a disk index's changes when enough have gathered;
// it runs at the end of a method that changed the index, where its
// invariants hold. A failure stops the index (see diskTable.err).
func (ix *partIndex) maybeFlush() {
	if ix.disk != nil && len(ix.disk.dirty) >= ix.disk.flushAt {
		_ = ix.disk.flush(ix.next, ix.foreign, false)
	}
}

// flush writes a disk index's changes and its checkpoint; with sync, to
// stable storage. It does nothing in memory.
func (ix *partIndex) flush(sync bool) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.disk == nil {
		return nil
	}
	return ix.disk.flush(ix.next, ix.foreign, sync)
}

// closeDisk stops a disk index before its database closes.
func (ix *partIndex) closeDisk() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.disk != nil {
		ix.disk.fail(errIndexClosed)
	}
}

// stream returns the state of stream id for a change, new when the
// partition has none.
func (ix *partIndex) stream(id string) *streamState {
	if ix.disk != nil {
		return ix.disk.mutable(id)
	}
	st := ix.streams[id]
	if st == nil {
		st = &streamState{}
		ix.streams[id] = st
	}
	return st
}

// applyCommitted adds a committed record read by catch-up. Records the
// index already has (the store's own commits) are skipped. Records that are
// not valid events at their place are remembered as corruption of their
// stream (loads of it report the error); key-less ones are counted and
// otherwise ignored, so a foreign record never stops appends to other
// streams.
func (ix *partIndex) applyCommitted(topic string, p int32, r record, window int) {
	ix.applyKeyed(topic, p, r.key, r.offset, nil, &r, window)
}

// applyKeyed is applyCommitted of the record at offset with key key,
// already parsed (pre) or parsed from r when pre is nil.
func (ix *partIndex) applyKeyed(topic string, p int32, key []byte, offset int64, pre *parsed, r *record, window int) {
	if len(key) == 0 {
		ix.foreign++
		return
	}
	var st *streamState
	if ix.disk == nil {
		st = ix.streams[string(key)] // no allocation for a known stream
	}
	if st == nil {
		st = ix.stream(string(key))
	}
	if ix.disk != nil && ix.disk.err != nil {
		return // the index stopped: apply nothing more
	}
	if st.knows(offset) {
		return
	}
	if pre == nil {
		x := parseRecord(topic, p, *r)
		pre = &x
	}
	ix.applyRecord(st, topic, p, offset, *pre, window)
}

// noVersionReason says why a record without a version header is not an
// event.
func noVersionReason(topic string, p int32, r record) string {
	if _, err := wire.Decode(topic, p, r.offset, r.key, r.value, r.headers, r.ts); err != nil {
		return reasonOf(err)
	}
	return "no " + wire.HeaderVersion + " header"
}

// parsed is what applying a committed record needs of it: why it is not
// an event at all (no or a bad version header), or its version, the key
// of its ID and its marker.
type parsed struct {
	why       string
	version   int64
	id        idKey
	marker    eventstore.Marker
	hasMarker bool
}

// parseRecord parses committed record r for applyRecord.
func parseRecord(topic string, p int32, r record) parsed {
	vb, ok := wire.Header(r.headers, wire.HeaderVersion)
	if !ok {
		return parsed{why: noVersionReason(topic, p, r)}
	}
	v, ok := wire.ParseVersion(vb)
	if !ok {
		return parsed{why: fmt.Sprintf("bad %s header %q", wire.HeaderVersion, vb)}
	}
	id, _ := wire.Header(r.headers, wire.HeaderID)
	m, hasMarker := markerOf(r.headers)
	return parsed{version: v, id: keyOf(id), marker: m, hasMarker: hasMarker}
}

// applyRecord applies committed record rec (at offset) of stream st,
// which the index does not have yet.
func (ix *partIndex) applyRecord(st *streamState, topic string, p int32, offset int64, rec parsed, window int) {
	bad := func(reason string) {
		ix.foreign++
		if st.corrupt == nil {
			st.corrupt = &wire.DecodeError{Topic: topic, Partition: p, Offset: offset, Reason: reason}
		}
	}
	if rec.why != "" {
		bad(rec.why)
		return
	}
	if offset < st.lastOffset() || rec.version != st.version+1 {
		bad(fmt.Sprintf("event version %d where the stream's next version is %d (a gap or duplicate written outside kafkaes)", rec.version, st.version+1))
		return
	}
	st.addKey(offset, rec.id, window)
	if rec.hasMarker {
		st.applyMarker(rec.marker)
	}
}

func reasonOf(err error) string {
	if de, ok := err.(*wire.DecodeError); ok {
		return de.Reason
	}
	return err.Error()
}

// applyOwn records events this store has just committed, before catch-up
// reaches them (on a real broker the commit markers land after CommitTxn
// returns, so the read_committed catch-up may not see them yet). Offsets the
// index already has are skipped.
// It reports whether the index holds all of them afterwards.
func (ix *partIndex) applyOwn(streamID string, firstVersion int64, offsets []int64, events []eventstore.Event, window int) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	defer ix.maybeFlush()
	st := ix.stream(streamID)
	if ix.failed() != nil {
		return false
	}
	for i, off := range offsets {
		if st.knows(off) {
			continue
		}
		if st.version != firstVersion+int64(i)-1 {
			// Cannot happen when the conflict scan holds; keep the index
			// consistent with the log by letting catch-up decide.
			return false
		}
		st.add(off, events[i].ID, window)
		if m, ok := eventstore.ParseMarker(events[i]); ok {
			st.applyMarker(m)
		}
	}
	return true
}

// addOwn remembers the runs of consecutive offsets among offsets (the
// records of a transaction this store committed and indexed) so that the
// conflict scan can skip them. Only the latest ownRanges runs are kept.
func (ix *partIndex) addOwn(offsets []int64) {
	offsets = slices.Clone(offsets)
	slices.Sort(offsets)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := 0; i < len(offsets); {
		j := i
		for j+1 < len(offsets) && offsets[j+1] == offsets[j]+1 {
			j++
		}
		ix.own = append(ix.own, [2]int64{offsets[i], offsets[j]})
		i = j + 1
	}
	if n := len(ix.own); n > ownRanges {
		ix.own = append(ix.own[:0], ix.own[n-ownRanges:]...)
	}
}

// index adds the committed records of a fetch response to the index and
// moves its next offset to the response's; it returns the next offset and
// whether it moved.
func (ix *partIndex) index(topic string, p int32, r *partResult, window int) (next int64, advanced bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i := range r.recs {
		ix.indexOne(topic, p, r.recs[i].key, r.recs[i].offset, nil, &r.recs[i], window)
	}
	for i := range r.parsed {
		rec := &r.parsed[i]
		ix.indexOne(topic, p, rec.key, rec.offset, &rec.p, nil, window)
	}
	if ix.failed() != nil {
		return ix.next, false // a disk index that stopped moves no further
	}
	if r.next > ix.next {
		ix.next, advanced = r.next, true
	}
	ix.maybeFlush()
	return ix.next, advanced
}

// indexOne is index for one committed record (at offset, with key key),
// already parsed (pre) or parsed from r when pre is nil.
func (ix *partIndex) indexOne(topic string, p int32, key []byte, offset int64, pre *parsed, r *record, window int) {
	if offset < ix.next {
		return // a conflict scan got there first
	}
	if ix.disk == nil || ix.disk.bulkDB == nil {
		ix.applyKeyed(topic, p, key, offset, pre, r, window)
		return
	}
	if len(key) == 0 {
		ix.foreign++
		return
	}
	if pre == nil {
		x := parseRecord(topic, p, *r)
		pre = &x
	}
	ix.disk.bulkAdd(p, key, offset, *pre) // a fresh build (diskbulk.go)
}

// applyScanned: see streamIndex.
func (ix *partIndex) applyScanned(topic string, p int32, from, end, to int64, recs []record, committed func(record) bool, window int) {
	if !ix.catchMu.TryLock() {
		return // a catch-up is running (maybe waiting for a transaction); it will get there
	}
	defer ix.catchMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.next < from || end <= ix.next {
		return // a catch-up overtook the scan, or nothing new
	}
	for _, rec := range recs {
		if rec.offset < ix.next {
			continue
		}
		if rec.offset >= end {
			break
		}
		if committed(rec) {
			ix.applyCommitted(topic, p, rec, window)
		}
	}
	if ix.failed() != nil {
		return // a disk index that stopped moves no further
	}
	ix.next = end
	defer ix.maybeFlush()
	ix.caughtAt = time.Now()
	if end < to {
		ix.noteUndecidedLocked(end)
	} else {
		ix.noteUndecidedLocked(-1)
	}
}

// check: see streamIndex.
func (ix *partIndex) check(r *appendReq) (res eventstore.AppendResult, err error, done bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	st := ix.lookup(r.stream)
	if err := ix.failed(); err != nil {
		return res, err, true
	}
	if st == nil {
		st = &streamState{}
	}
	return checkStream(r, st, ix.next)
}

// eventsFrom: see streamIndex.
func (ix *partIndex) eventsFrom(stream string, from int64, fn func(offset, version int64)) (exists bool, corrupt *wire.DecodeError, fromErr error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	st := ix.lookup(stream)
	if err := ix.failed(); err != nil {
		return true, nil, err // the stream may exist: the caller reports err
	}
	if st == nil {
		return false, nil, nil
	}
	corrupt = st.corrupt
	if st.version > 0 {
		from, fromErr = st.lifeOf().ReadFrom(stream, st.version, from)
	}
	if fromErr == nil {
		st.each(from, fn)
	}
	return st.version > 0 || st.corrupt != nil, corrupt, fromErr
}

// knows: see streamIndex.
func (ix *partIndex) knows(key []byte, offset int64) (known, covered bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var st *streamState
	if ix.disk != nil {
		st = ix.disk.getKey(key)
		if ix.disk.err != nil {
			return false, false
		}
	} else {
		st = ix.streams[string(key)]
	}
	if st != nil && st.knows(offset) {
		return true, true
	}
	return false, offset < ix.next
}

// nextOffset: see streamIndex.
func (ix *partIndex) nextOffset() int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.next
}

// ownRanges: see streamIndex. It returns a copy.
func (ix *partIndex) ownRanges() [][2]int64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return slices.Clone(ix.own)
}

func (ix *partIndex) lockCatch()         { ix.catchMu.Lock() }
func (ix *partIndex) tryLockCatch() bool { return ix.catchMu.TryLock() }
func (ix *partIndex) unlockCatch()       { ix.catchMu.Unlock() }

// The in-memory index in the file of WithIndexDir (persist.go): save
// encodes it, decode fills a new index from it, before the store uses it.

// save encodes the index, under its lock, for the index file.
func (ix *partIndex) save(e *encoder) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.encode(e)
}

func (ix *partIndex) encode(e *encoder) {
	e.int(ix.next)
	e.int(ix.foreign)
	var runs, ids int
	for _, st := range ix.streams {
		runs += len(st.runs)
		ids += len(st.ids)
	}
	e.uint(uint64(len(ix.streams)))
	e.uint(uint64(runs))
	e.uint(uint64(ids))
	// The stream IDs first, in one block (a load makes one string of it
	// and slices the IDs out of it: one allocation, no waste), then the
	// streams in the same order, each with its ID's length.
	order := make([]string, 0, len(ix.streams))
	var keyBytes int
	for id := range ix.streams {
		order = append(order, id)
		keyBytes += len(id)
	}
	e.uint(uint64(keyBytes))
	for _, id := range order {
		e.b = append(e.b, id...)
	}
	for _, id := range order {
		e.uint(uint64(len(id)))
		encodeState(e, ix.streams[id])
	}
}

func (ix *partIndex) decode(d *decoder, topic string, p int32, window int) {
	ix.next = d.int()
	ix.foreign = d.int()
	n, allRuns, allIDs := d.uint(), d.uint(), d.uint()
	if n > uint64(len(d.b)) || allRuns > uint64(len(d.b)) || allIDs > uint64(len(d.b))/16+1 {
		d.fail("counts")
		return
	}
	// One allocation each for all streams, runs and IDs of the partition
	// (each stream's slices have no spare capacity, so growing one copies
	// it out of the slab): loading is mostly allocation otherwise.
	states := make([]streamState, n)
	runSlab := make([]run, allRuns)
	idSlab := make([]idKey, 0, allIDs)
	ix.streams = make(map[string]*streamState, n)
	kb := d.uint()
	if kb > uint64(len(d.b)) {
		d.fail("stream IDs")
		return
	}
	ids := string(d.raw(int(kb)))
	for i := range n {
		if d.err != nil {
			return
		}
		kl := d.uint()
		if kl > uint64(len(ids)) {
			d.fail("stream ID length")
			return
		}
		id := ids[:kl]
		ids = ids[kl:]
		st := &states[i]
		st.version = d.int()
		nr := d.uint()
		if nr > uint64(len(runSlab)) {
			d.fail("run count")
			return
		}
		st.runs, runSlab = runSlab[:nr:nr], runSlab[nr:]
		var off, ver int64
		for i := range st.runs {
			off += d.int()
			ver += d.int()
			st.runs[i] = run{offset: off, version: ver}
		}
		ni := d.uint()
		if ni > uint64(len(d.b)) {
			d.fail("ID count")
			return
		}
		keep := max(0, min(int(ni), window))
		start := len(idSlab)
		for k := range int(ni) {
			b := d.raw(16)
			if k >= int(ni)-keep && len(idSlab) < cap(idSlab) {
				idSlab = append(idSlab, idKey(b))
			}
		}
		if keep > 0 {
			st.ids = idSlab[start:len(idSlab):len(idSlab)]
		}
		if d.uint() == 1 {
			st.corrupt = &wire.DecodeError{Topic: topic, Partition: p, Offset: d.int(), Reason: d.str()}
		}
		if d.uint() == 1 {
			st.life = &eventstore.StreamLife{DeletedAt: d.int(), TruncatedBefore: d.int()}
		}
		ix.streams[id] = st
	}
	if len(ids) != 0 {
		d.fail("stream IDs")
	}
}
