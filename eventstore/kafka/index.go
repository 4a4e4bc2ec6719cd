package kafka

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// run is a stretch of consecutive offsets holding consecutive versions of
// one stream: offsets offset..offset+n-1 hold versions version..version+n-1,
// where n is the next run's version minus this one's (for the last run,
// the stream's version plus one minus it). Leaving n implicit keeps a run
// at 16 bytes: streams written by interleaved writers have a run per
// event.
type run struct {
	offset, version int64
}

// idKey is an event ID in 16 bytes: the bytes of a canonical lower-case
// UUID (what eventstore.NewEventID makes, so the common case is exact), or
// the first 16 bytes of the SHA-256 of any other ID. Two different IDs
// share a key only by a SHA-256 collision on 128 bits; such a pair would
// make an append look like a repeat of the other, a risk far below that
// of two random v4 UUIDs being equal (122 random bits). The zero key
// stands for an event without an ID and matches nothing.
type idKey [16]byte

// keyOf returns the key of event ID id (a string, or the bytes of a
// record header, without converting them).
func keyOf[T string | []byte](id T) idKey {
	var k idKey
	if len(id) == 0 {
		return k
	}
	if len(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-' {
		ok := true
		j := 0
		for i := 0; i < 36 && ok; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			h, lo := unhex(id[i]), unhex(id[i+1])
			if h < 0 || lo < 0 {
				ok = false
				break
			}
			k[j] = byte(h<<4 | lo)
			j++
			i++
		}
		if ok && k != (idKey{}) {
			return k
		}
	}
	sum := sha256.Sum256([]byte(string(id)))
	copy(k[:], sum[:16])
	if k == (idKey{}) {
		k[0] = 1 // never the zero key
	}
	return k
}

// unhex returns the value of a lower-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// streamState is what the index knows about one stream.
type streamState struct {
	version int64
	runs    []run
	// ids is a ring of the keys of the latest event IDs (idempotency
	// window): one per version, the latest len(ids) versions; when the
	// ring is full, ids[idNext] is the oldest. Versions are implicit,
	// which keeps an entry at 16 bytes and without a pointer.
	ids    []idKey
	idNext int
	// corrupt is the first record with this stream's key that is not a
	// valid event at its place; loads of the stream report it.
	corrupt *wire.DecodeError
	// life is what the stream's lifecycle markers say (deleted,
	// truncated); nil for a stream without markers.
	life *eventstore.StreamLife
}

// lifeOf returns the stream's lifecycle state (the zero value without
// markers).
func (st *streamState) lifeOf() eventstore.StreamLife {
	if st.life == nil {
		return eventstore.StreamLife{}
	}
	return *st.life
}

// applyMarker records that the stream's latest event (at st.version) is
// the lifecycle marker m.
func (st *streamState) applyMarker(m eventstore.Marker) {
	if st.life == nil {
		st.life = &eventstore.StreamLife{}
	}
	st.life.Apply(m, st.version)
}

// markerOf returns the lifecycle marker a record with these headers is,
// if it is one: its es.type has the reserved prefix and it is a valid
// marker. A record of a reserved type that is not a valid marker is
// indexed as an ordinary event (it changes nothing).
func markerOf(headers []*sarama.RecordHeader) (eventstore.Marker, bool) {
	typ, ok := wire.Header(headers, wire.HeaderType)
	const prefix = eventstore.ReservedTypePrefix
	if !ok || len(typ) < len(prefix) || string(typ[:len(prefix)]) != prefix { // a comparison, no allocation: this runs for every indexed record
		return eventstore.Marker{}, false
	}
	ev := eventstore.Event{Type: string(typ)}
	if b, ok := wire.Header(headers, wire.HeaderTruncateBefore); ok {
		ev.Metadata.Values = map[string]string{eventstore.MarkerTruncateBefore: string(b)}
	}
	return eventstore.ParseMarker(ev)
}

// runLen returns the number of events of run i.
func (st *streamState) runLen(i int) int64 {
	if i+1 < len(st.runs) {
		return st.runs[i+1].version - st.runs[i].version
	}
	return st.version + 1 - st.runs[i].version
}

func (st *streamState) lastOffset() int64 {
	if len(st.runs) == 0 {
		return -1
	}
	i := len(st.runs) - 1
	return st.runs[i].offset + st.runLen(i) - 1
}

// knows reports whether the stream has an event at offset.
func (st *streamState) knows(offset int64) bool {
	i := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].offset+st.runLen(i) > offset })
	return i < len(st.runs) && st.runs[i].offset <= offset
}

// offsetOf returns the offset of the event with the given version.
func (st *streamState) offsetOf(version int64) (int64, bool) {
	if version < 1 || version > st.version || len(st.runs) == 0 {
		return 0, false
	}
	// The last run whose first version is at most version holds it.
	i := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].version > version }) - 1
	if i < 0 {
		return 0, false
	}
	r := st.runs[i]
	return r.offset + (version - r.version), true
}

// each calls fn with the offset and version of every event of the stream
// from version from on, in order.
func (st *streamState) each(from int64, fn func(offset, version int64)) {
	first := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].version+st.runLen(i) > from })
	for i := first; i < len(st.runs); i++ {
		r, n := st.runs[i], st.runLen(i)
		for k := max(from-r.version, 0); k < n; k++ {
			fn(r.offset+k, r.version+k)
		}
	}
}

// versionAt returns the version of ids[j].
func (st *streamState) versionAt(j int) int64 {
	n := len(st.ids)
	// The oldest entry is at idNext (0 until the ring is full).
	age := (j - st.idNext + n) % n // 0 for the oldest
	return st.version - int64(n) + 1 + int64(age)
}

// lookupID returns the version of event ID id, if it is in the window.
func (st *streamState) lookupID(id string) (int64, bool) {
	k := keyOf(id)
	if k == (idKey{}) {
		return 0, false
	}
	for j, e := range st.ids {
		if e == k {
			return st.versionAt(j), true
		}
	}
	return 0, false
}

// idAt returns the key of the ID of the event with the given version, if
// it is in the idempotency window.
func (st *streamState) idAt(version int64) (idKey, bool) {
	n := int64(len(st.ids))
	if n == 0 || version > st.version || version <= st.version-n {
		return idKey{}, false
	}
	age := int(version - (st.version - n + 1)) // 0 for the oldest
	j := (st.idNext + age) % len(st.ids)
	if st.ids[j] == (idKey{}) {
		return idKey{}, false
	}
	return st.ids[j], true
}

// add records the event with the next version at offset.
func (st *streamState) add(offset int64, id string, window int) { st.addKey(offset, keyOf(id), window) }

// addKey is add with the event ID's key.
func (st *streamState) addKey(offset int64, k idKey, window int) {
	if n := len(st.runs); n == 0 || st.lastOffset()+1 != offset {
		if n == cap(st.runs) {
			// Grow by half rather than double: most streams stay short,
			// and a stream written by interleaved writers has a run per
			// event.
			grown := make([]run, n, n+max(1, n/2))
			copy(grown, st.runs)
			st.runs = grown
		}
		st.runs = append(st.runs, run{offset: offset, version: st.version + 1})
	}
	st.version++
	if window <= 0 {
		return
	}
	if len(st.ids) < window {
		if len(st.ids) == cap(st.ids) {
			// Grow to at most the window, so a full ring has cap == len.
			grown := make([]idKey, len(st.ids), min(window, len(st.ids)+max(2, len(st.ids)/2)))
			copy(grown, st.ids)
			st.ids = grown
		}
		st.ids = append(st.ids, k)
		return
	}
	st.ids[st.idNext] = k
	st.idNext = (st.idNext + 1) % window
}

// partIndex indexes one partition: stream -> state, built from the
// committed records below next plus the store's own commits.
type partIndex struct {
	// catchMu serialises catch-ups of the partition.
	catchMu sync.Mutex

	mu sync.Mutex
	// next is the first offset not yet read by catch-up (X in the package
	// documentation): every committed event below it is in streams.
	next    int64
	streams map[string]*streamState
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

// noteUndecided records, under ix.mu, that the partition's first
// undecided record is at offset (-1: none).
func (ix *partIndex) noteUndecided(offset int64) {
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

func (ix *partIndex) stream(id string) *streamState {
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
	if len(r.key) == 0 {
		ix.foreign++
		return
	}
	st := ix.streams[string(r.key)] // no allocation for a known stream
	if st == nil {
		st = ix.stream(string(r.key))
	}
	if st.knows(r.offset) {
		return
	}
	bad := func(reason string) {
		ix.foreign++
		if st.corrupt == nil {
			st.corrupt = &wire.DecodeError{Topic: topic, Partition: p, Offset: r.offset, Reason: reason}
		}
	}
	vb, ok := wire.Header(r.headers, wire.HeaderVersion)
	if !ok {
		if _, err := wire.Decode(topic, p, r.offset, r.key, r.value, r.headers, r.ts); err != nil {
			bad(reasonOf(err))
		} else {
			bad("no " + wire.HeaderVersion + " header")
		}
		return
	}
	v, ok := wire.ParseVersion(vb)
	if !ok {
		bad(fmt.Sprintf("bad %s header %q", wire.HeaderVersion, vb))
		return
	}
	if r.offset < st.lastOffset() || v != st.version+1 {
		bad(fmt.Sprintf("event version %d where the stream's next version is %d (a gap or duplicate written outside kafkaes)", v, st.version+1))
		return
	}
	id, _ := wire.Header(r.headers, wire.HeaderID)
	st.addKey(r.offset, keyOf(id), window)
	if m, ok := markerOf(r.headers); ok {
		st.applyMarker(m)
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
	st := ix.stream(streamID)
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
	for _, rec := range r.recs {
		if rec.offset >= ix.next { // below it, a conflict scan got there first
			ix.applyCommitted(topic, p, rec, window)
		}
	}
	if r.next > ix.next {
		ix.next, advanced = r.next, true
	}
	return ix.next, advanced
}

// reportIndexed counts n records indexed in partition p and reports the
// index's progress (next of end) to progress and the index observer.
func (s *Store) reportIndexed(ctx context.Context, p int32, next, end int64, n int, progress func(p int32, next, end int64)) {
	s.indexed.Add(int64(n))
	if progress != nil {
		progress(p, next, end)
	}
	if h := s.opts.hooks.Index; h != nil {
		h.ObserveIndex(ctx, observe.Index{Topic: s.topic, Partition: p, Offset: next, End: end, Records: n})
	}
}

// catchUp reads the committed records of the partitions in parts from
// where their index stopped, and adds them to the index. It stops at the
// last stable offset as of its first fetch, or, when strong is set, at the
// high watermark as of its first fetch: it then waits for the transactions
// open at that moment to end, so that every append acknowledged before the
// call (by any store instance) is in the index afterwards. (On a real
// broker a transaction's commit markers land shortly after its commit
// returns, so the last stable offset may still be below an acknowledged
// append.) progress, when set, is called after every fetch.
func (s *Store) catchUp(ctx context.Context, parts []int32, strong bool, progress func(p int32, next, end int64)) error {
	return s.catchUpStall(ctx, parts, strong, 0, false, progress)
}

// catchUpStall is catchUp that gives up when it made no progress for stall
// (0: never), or, when strong, stall after it started: with a *heldBackError when every partition it did not finish
// has reached the last stable offset as of the first fetch (only
// transactions open at the start, which may include acknowledged appends
// whose markers are late, are missing), with an error wrapping
// eventstore.ErrUnavailable otherwise (the leader did not answer, or the
// partition could not be read up to its last stable offset).
//
// With try set, blocked partitions (isBlocked) that another catch-up is
// reading are skipped rather than waited for (a read may be waiting for
// the open transaction there; a worker must not wait with it). Other
// partitions are waited for: skipping them left the worker's version
// checks on a stale index, whose conflicts, found only by the conflict
// scan, aborted whole group commits (2-3x slower appends under
// contention on a real broker).
func (s *Store) catchUpStall(ctx context.Context, parts []int32, strong bool, stall time.Duration, try bool, progress func(p int32, next, end int64)) error {
	parts = slices.Clone(parts)
	slices.Sort(parts)
	parts = slices.Compact(parts)
	// The partitions' catchMu are held while fetching and applying, and
	// released while waiting for open transactions, so that concurrent
	// catch-ups (reads waiting for the same open transaction) wait side by
	// side rather than one after the other.
	holding := map[int32]bool{}
	defer func() {
		for p := range holding {
			s.idx[p].catchMu.Unlock()
		}
	}()
	lock := func(ps []int32) []int32 {
		got := ps[:0:0]
		for _, p := range ps { // in order: no lock-order inversion
			if try && s.idx[p].isBlocked() {
				if !s.idx[p].catchMu.TryLock() {
					continue
				}
			} else {
				s.idx[p].catchMu.Lock()
			}
			holding[p] = true
			got = append(got, p)
		}
		return got
	}
	parts = lock(parts)
	pending := make(map[int32]int64, len(parts))
	for _, p := range parts {
		ix := s.idx[p]
		ix.mu.Lock()
		pending[p] = ix.next
		ix.mu.Unlock()
	}
	target := map[int32]int64{}
	lso := map[int32]int64{}
	idle := 0
	start, lastProgress := time.Now(), time.Now()
	// limit is when to give up: stall after the last progress, or, for a
	// strong catch-up (which waits for transactions), stall after the
	// start whatever the progress: under continuous transactions the last
	// stable offset may keep creeping towards the high watermark as of the
	// start for a long time, and the caller (a read, a worker) must not
	// wait that long.
	limit := func() time.Time {
		if strong {
			return start.Add(stall)
		}
		return lastProgress.Add(stall)
	}
	// A strong catch-up's target is the high watermark as the leader
	// reports it to ListOffsets, not the one in the first fetch response:
	// a leader that was just elected may report a high watermark below
	// appends the old leader acknowledged until its followers fetch again;
	// a Fetch then answers with that low value, while ListOffsets answers
	// OFFSET_NOT_AVAILABLE (KIP-207), which is retried. Taking the fetch's
	// value made reads return without appends acknowledged before them.
	var listed map[int32]int64
	if strong && len(pending) > 0 {
		fctx, fcancel := ctx, context.CancelFunc(func() {})
		if stall > 0 {
			fctx, fcancel = context.WithDeadline(ctx, limit())
		}
		var err error
		listed, err = retry(fctx, func() (map[int32]int64, error) {
			return s.f.listOffsets(fctx, slices.Collect(maps.Keys(pending)), sarama.OffsetNewest, sarama.ReadUncommitted)
		})
		fcancel()
		if err != nil {
			if ctx.Err() == nil && fctx.Err() != nil {
				return s.stalled(pending, lso, target, stall, err)
			}
			return fmt.Errorf("kafka: catch up the stream index of %s: %w", s.topic, err)
		}
	}
	for len(pending) > 0 {
		fctx, fcancel := ctx, context.CancelFunc(func() {})
		if stall > 0 {
			fctx, fcancel = context.WithDeadline(ctx, limit())
		}
		res, err := retry(fctx, func() (map[int32]*partResult, error) {
			return s.f.fetch(fctx, pending, sarama.ReadCommitted, 0, fetchMaxBytes)
		})
		fcancel()
		if err != nil {
			if ctx.Err() == nil && fctx.Err() != nil {
				return s.stalled(pending, lso, target, stall, err)
			}
			return fmt.Errorf("kafka: catch up the stream index of %s: %w", s.topic, err)
		}
		progressed := false
		for p, r := range res {
			ix := s.idx[p]
			next, advanced := ix.index(s.topic, p, r, s.opts.idWindow)
			progressed = progressed || advanced
			if r.lso < r.hw {
				ix.mu.Lock()
				ix.noteUndecided(r.lso)
				ix.mu.Unlock()
			}
			t, ok := target[p]
			if !ok {
				t = r.lso
				if strong {
					t = max(r.hw, listed[p])
				}
				target[p], lso[p] = t, r.lso
			}
			s.reportIndexed(ctx, p, next, t, len(r.recs), progress)
			if next >= t {
				ix.mu.Lock()
				ix.caughtAt = time.Now()
				if r.lso < r.hw {
					ix.noteUndecided(r.lso)
				} else {
					ix.noteUndecided(-1)
				}
				ix.mu.Unlock()
				delete(pending, p)
				progressed = true
			} else {
				pending[p] = next
			}
		}
		if progressed {
			idle, lastProgress = 0, time.Now()
		}
		if !progressed && len(pending) > 0 {
			// Nothing new below the target yet (a transaction is still
			// open, or the fetch raced a leader change): back off briefly.
			if stall > 0 && (!time.Now().Before(limit()) || (strong && s.allBlocked(pending))) {
				return s.stalled(pending, lso, target, stall, nil)
			}
			idle++
			if err := ctxtime.Sleep(ctx, time.Duration(min(idle, 20))*time.Millisecond); err != nil {
				return fmt.Errorf("kafka: catch up the stream index of %s: %w", s.topic, err)
			}
		}
	}
	return nil
}

// allBlocked reports whether every partition of pending counts as blocked
// (isBlocked): waiting longer for their open transactions is pointless.
func (s *Store) allBlocked(pending map[int32]int64) bool {
	for p := range pending {
		if !s.idx[p].isBlocked() {
			return false
		}
	}
	return true
}

// stalled is the error of a catch-up that made no progress for stall,
// with pending the partitions it did not finish (partition -> next offset).
func (s *Store) stalled(pending, lso, target map[int32]int64, stall time.Duration, cause error) error {
	held := &heldBackError{topic: s.topic, parts: map[int32][2]int64{}}
	for p, next := range pending {
		l, ok := lso[p]
		if !ok || next < l {
			why := "its leader did not answer"
			if ok {
				why = fmt.Sprintf("it stopped at offset %d, below the last stable offset %d", next, l)
			}
			if cause != nil {
				why += fmt.Sprintf(" (%v)", cause)
			}
			return fmt.Errorf("%w: kafka: catch up the stream index of %s/%d: not done within %v: %s; retry later (when the broker is back)",
				eventstore.ErrUnavailable, s.topic, p, stall, why)
		}
		held.parts[p] = [2]int64{next, target[p]}
		ix := s.idx[p]
		ix.mu.Lock()
		ix.noteUndecided(next)
		ix.mu.Unlock()
	}
	return held
}

// heldBackError reports a catch-up that reached the last stable offset of
// every partition but not the high watermark as of its start: records of
// transactions open at the start were still undecided when it stopped
// waiting (a writer that died with its transaction open, or an
// acknowledged commit whose markers Kafka has not written yet, for example
// because a broker is paused).
type heldBackError struct {
	topic string
	parts map[int32][2]int64 // partition -> [first undecided offset, high watermark]
}

func (e *heldBackError) Error() string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(e.parts)) {
		r := e.parts[p]
		fmt.Fprintf(&b, " %s/%d [%d, %d)", e.topic, p, r[0], r[1])
	}
	return "kafka: records of open transactions are still undecided in" + b.String()
}

// catchUpWaiting is a strong catch-up that takes at most d: a transaction that stays open longer (a hung or crashed
// writer, or a commit whose markers are late because a broker is paused)
// may leave the index short of the high watermark as of the call. It then
// returns a *heldBackError naming the undecided ranges (the caller decides
// whether they matter); an error wrapping eventstore.ErrUnavailable when it
// could not even reach the last stable offset; ctx's error when ctx ended.
func (s *Store) catchUpWaiting(ctx context.Context, parts []int32, d time.Duration) error {
	return s.catchUpStall(ctx, parts, true, d, false, nil)
}

// positions returns the positions of versions from..to of a stream.
func positionsOf(st *streamState, p int32, from, to int64) []eventstore.Position {
	out := make([]eventstore.Position, 0, to-from+1)
	for v := from; v <= to; v++ {
		off, _ := st.offsetOf(v)
		out = append(out, eventstore.Position{Partition: p, Offset: off})
	}
	return out
}
