package kafka

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

// loadMaxBytes is the per-partition byte limit of the fetches of a stream
// load. Kafka always returns the first record batch at the fetch offset in
// full, however small the limit, so a limit of 1 byte makes every load
// fetch return exactly the batch holding the wanted offset: the cost of a
// load depends on the stream's own batches, never on the partition's size.
const loadMaxBytes = 1

// readWait bounds how long ReadStream waits for transactions open in the
// stream's partition (see catchUpWaiting).
const readWait = 2 * time.Second

// blockedReadWait replaces readWait for a partition that counts as blocked
// (see blockedAfter): enough to catch up to the last stable offset.
const blockedReadWait = 50 * time.Millisecond

// subscribeWait is how long a live subscription's fetch waits at the broker
// for new records; it bounds how late a subscription notices cancellation.
const subscribeWait = 200 * time.Millisecond

// ReadStream yields the events of one stream from version from on; see
// [eventstore.Store.ReadStream]. It first catches the stream's partition
// index up (one fetch when nothing is new), waiting up to 2s for
// transactions that are open in the partition, so that it sees every
// append acknowledged before the call on a real broker too, then fetches only the offsets
// the index holds for the stream, checking every record's key and version,
// so its cost does not grow with the size of the partition. A record at
// such an offset that is not the expected event, and any record with the
// stream's key that the index could not read, give a [*CorruptRecordError].
// It never returns a short stream as if it were complete: when it cannot
// confirm that it has every append acknowledged before the call (the
// partition's leader does not answer, or a transaction that is still
// open may hold records of the stream), it yields one error matching
// [eventstore.ErrUnavailable] and nothing else; retry later.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if s.isClosed() {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: read stream %q", eventstore.ErrClosed, streamID))
			return
		}
		if err := eventstore.ValidateStreamID(streamID); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		from = max(from, 1)
		p := s.Partition(streamID)
		if err := s.buildFor(ctx, p); err != nil {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: read stream %q: %w", streamID, err))
			return
		}
		wait := readWait
		if s.idx[p].isBlocked() {
			// The partition's first undecided record has been undecided
			// for a while (a dead or paused writer, or late markers):
			// waiting for it again only delays the answer.
			wait = blockedReadWait
		}
		if err := s.catchUpWaiting(ctx, []int32{p}, wait); err != nil {
			var held *heldBackError
			if errors.As(err, &held) {
				// Transactions open at the start are still undecided:
				// they matter only if they hold records of this stream
				// (they may be acknowledged appends whose markers are
				// late), or if the index could not get past them to
				// committed records of this stream.
				err = s.checkHeld(ctx, p, streamID, held.parts[p])
			}
			if err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: read stream %q: %w", streamID, err))
				return
			}
		}
		var wants []want
		exists, corrupt, fromErr := s.idx[p].eventsFrom(streamID, from, func(offset, version int64) { wants = append(wants, want{offset, version}) })
		if !exists {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: stream %q", eventstore.ErrStreamNotFound, streamID))
			return
		}
		if fromErr != nil {
			yield(eventstore.RecordedEvent{}, fromErr)
			return
		}
		reportCorrupt := func(before int64) bool {
			if corrupt != nil && corrupt.Offset < before {
				c := *corrupt
				corrupt = nil
				yield(eventstore.RecordedEvent{}, &c)
				return true
			}
			return false
		}
		l := &loader{s: s, p: p, ctx: ctx, cache: map[int64]record{}}
		for i := 0; i < len(wants); {
			if reportCorrupt(wants[i].offset) {
				return
			}
			w := wants[i]
			rec, err := l.get(wants, i)
			if err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: read stream %q: %w", streamID, err))
				return
			}
			ev, err := wire.Decode(s.topic, p, rec.offset, rec.key, rec.value, rec.headers, rec.ts)
			if err == nil && (ev.StreamID != streamID || ev.Version != w.version) {
				err = &wire.DecodeError{Topic: s.topic, Partition: p, Offset: rec.offset,
					Reason: fmt.Sprintf("expected version %d of stream %q, found version %d of stream %q", w.version, streamID, ev.Version, ev.StreamID)}
			}
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if err := ctx.Err(); err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
			i++
		}
		reportCorrupt(1 << 62)
	}
}

// checkHeld reads [r[0], r[1]) of partition p, the range a catch-up could
// not index because a transaction in it stayed undecided, and returns an
// error wrapping eventstore.ErrUnavailable when a record of stream there
// is neither in the index (this store's own commits are) nor known to be
// aborted: the index, which stops at the first
// undecided record, misses it, and it may be an append acknowledged before
// the read (committed, or committed with its markers still to come).
func (s *Store) checkHeld(ctx context.Context, p int32, stream string, r [2]int64) error {
	rctx, cancel := context.WithTimeout(ctx, readWait)
	defer cancel()
	var recs []record
	markers := map[int64][]int64{} // producer ID -> offsets of its abort (-) and commit (+) markers, in order
	at := r[0]
	for at < r[1] {
		res, err := retry(rctx, func() (map[int32]*partResult, error) {
			return s.f.fetch(rctx, map[int32]int64{p: at}, sarama.ReadUncommitted, 0, fetchMaxBytes)
		})
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("%w: kafka: %s/%d: read the records of open transactions at [%d, %d): %w", eventstore.ErrUnavailable, s.topic, p, r[0], r[1], err)
		}
		pr := res[p]
		for _, rec := range pr.recs {
			switch {
			case rec.control && rec.abort:
				markers[rec.producerID] = append(markers[rec.producerID], -rec.offset)
			case rec.control:
				markers[rec.producerID] = append(markers[rec.producerID], rec.offset)
			case rec.offset < r[1] && string(rec.key) == stream:
				recs = append(recs, rec)
			}
		}
		if pr.next <= at {
			// The leader returned nothing below r[1] (a leader whose high
			// watermark lags, just elected, or a broker that no longer
			// leads): the unread part may hold an acknowledged append of
			// the stream, so the read cannot be confirmed.
			return fmt.Errorf("%w: kafka: %s/%d: read the records of open transactions at [%d, %d): the leader returned nothing from offset %d on (high watermark %d); retry later",
				eventstore.ErrUnavailable, s.topic, p, r[0], r[1], at, pr.hw)
		}
		at = pr.next
	}
	ix := s.idx[p]
	for _, rec := range recs {
		known, _ := ix.knows(rec.key, rec.offset) // this store's own commit
		if known {
			continue
		}
		aborted := false
		if rec.txn {
			for _, m := range markers[rec.producerID] {
				if m < 0 && -m > rec.offset {
					aborted = true
					break
				}
				if m > rec.offset {
					break
				}
			}
		}
		if !aborted {
			return fmt.Errorf("%w: kafka: %s/%d holds, at offset %d, a record of the stream that the store cannot confirm yet: a transaction at offset %d was still open after %v (a writer that died with its transaction open holds it until the broker aborts it after the transaction timeout; or a commit's markers are late, for example because a broker is paused), so the read could miss an acknowledged append; retry later",
				eventstore.ErrUnavailable, s.topic, p, rec.offset, r[0], readWait)
		}
	}
	return nil
}

// loadAhead is how many record batches of a stream a load fetches at
// once (concurrent requests on one connection, pipelined by sarama).
const loadAhead = 8

// A load reads the partition in large fetches (denseMaxBytes) instead of
// one record batch per request while the stream's next denseProbe events
// lie within denseRatio times as many offsets: then at least one record
// in denseRatio decoded is the stream's, and a round trip brings hundreds
// of its events instead of one batch. A sparse stream keeps the batch-wise
// fetches, whose cost does not depend on the partition's other records.
const (
	denseProbe    = 64
	denseRatio    = 16
	denseMaxBytes = 1 << 20
)

// dense reports whether the stream's events from wants[i] on are dense
// in the partition (see denseProbe).
func (l *loader) dense(wants []want, i int) bool {
	last := min(len(wants)-1, i+denseProbe-1)
	if last-i+1 < denseProbe/2 {
		return false // a short rest: the batch-wise fetches are as quick
	}
	return wants[last].offset-wants[i].offset+1 <= int64(last-i+1)*denseRatio
}

// denseRaw is the large fetch of a dense stream through the store's raw
// fetcher (rawbuild.go): of the batches from wants[i].offset on, only
// those that hold offsets of wants are decompressed, and only the
// stream's records are decoded (sarama decodes every record of every
// batch, most of a long stream's load). It reports false, having kept
// nothing, when there is no raw fetcher or the fetch failed or needs
// sarama's parser: the caller then fetches through sarama, which retries
// and reports errors.
func (l *loader) denseRaw(wants []want, i int) bool {
	raw := l.s.rawLoader()
	if raw == nil {
		return false
	}
	rest := wants[i:]
	has := func(first, last int64) bool {
		k, _ := slices.BinarySearchFunc(rest, first, func(w want, o int64) int { return cmp.Compare(w.offset, o) })
		return k < len(rest) && rest[k].offset <= last
	}
	recs, ok, err := raw.load(l.ctx, l.p, wants[i].offset, denseMaxBytes, has)
	if err != nil || !ok {
		return false
	}
	l.s.loaded.Add(int64(len(recs)))
	for _, rec := range recs {
		l.cache[rec.offset] = rec
	}
	return true
}

// takeWanted keeps the records of recs that are at offsets of wants from i
// on (both are in offset order) for the coming gets.
func (l *loader) takeWanted(wants []want, i int, recs []record) {
	j := i
	for _, rec := range recs {
		if rec.control {
			continue
		}
		for j < len(wants) && wants[j].offset < rec.offset {
			j++
		}
		if j == len(wants) {
			return
		}
		if wants[j].offset == rec.offset {
			l.cache[rec.offset] = rec
		}
	}
}

// loader fetches the records of one stream at the offsets the index holds,
// one record batch per request, up to loadAhead batches at a time.
type loader struct {
	s     *Store
	p     int32
	ctx   context.Context
	cache map[int64]record
}

// want is an offset where the index has an event of the stream.
type want struct{ offset, version int64 }

// get returns the record at wants[i].offset, fetching it and the batches
// of the next runs of the stream when it is not at hand.
func (l *loader) get(wants []want, i int) (record, error) {
	off := wants[i].offset
	if rec, ok := l.s.rcache.get(l.p, off); ok {
		// The event's Data is the record's value: give the caller its
		// own copy, so that changing it cannot change the cache.
		rec.value = bytes.Clone(rec.value)
		return rec, nil
	}
	for attempt := 0; ; attempt++ {
		if rec, ok := l.cache[off]; ok {
			delete(l.cache, off)
			l.s.rcache.put(l.p, rec)
			return rec, nil
		}
		if l.dense(wants, i) {
			// The stream's next events lie close together in the
			// partition (a long stream written one event per append
			// among few others): one large fetch from off returns many
			// of them, where one batch per request would take a round
			// trip for every few events.
			if !l.denseRaw(wants, i) {
				res, err := retry(l.ctx, func() (map[int32]*partResult, error) {
					return l.s.loadF.fetch(l.ctx, map[int32]int64{l.p: off}, sarama.ReadUncommitted, 0, denseMaxBytes)
				})
				if err != nil {
					return record{}, err
				}
				if pr := res[l.p]; pr != nil {
					l.takeWanted(wants, i, pr.recs)
				}
			}
			if _, ok := l.cache[off]; ok {
				continue
			}
		}
		// Fetch at off and at the starts of the following runs (a run of
		// consecutive offsets is one append, usually one batch).
		at := []int64{off}
		for j := i + 1; j < len(wants) && len(at) < loadAhead; j++ {
			if wants[j].offset != wants[j-1].offset+1 {
				if _, cached := l.s.rcache.get(l.p, wants[j].offset); cached {
					continue
				}
				if _, ok := l.cache[wants[j].offset]; !ok {
					at = append(at, wants[j].offset)
				}
			}
		}
		wanted := map[int64]bool{}
		for j := i; j < len(wants) && j < i+loadAhead*64; j++ {
			wanted[wants[j].offset] = true
		}
		results := make([]*partResult, len(at))
		errs := make([]error, len(at))
		var wg sync.WaitGroup
		for k, o := range at {
			wg.Go(func() {
				res, err := retry(l.ctx, func() (map[int32]*partResult, error) {
					return l.s.loadF.fetch(l.ctx, map[int32]int64{l.p: o}, sarama.ReadUncommitted, 0, loadMaxBytes)
				})
				if err == nil {
					results[k] = res[l.p]
				}
				errs[k] = err
			})
		}
		wg.Wait()
		if errs[0] != nil {
			return record{}, errs[0]
		}
		for _, pr := range results {
			if pr == nil {
				continue
			}
			for _, rec := range pr.recs {
				if !rec.control && wanted[rec.offset] {
					l.cache[rec.offset] = rec
				}
			}
		}
		if _, ok := l.cache[off]; ok {
			continue
		}
		if pr := results[0]; len(pr.recs) > 0 || pr.next > off {
			return record{}, &wire.DecodeError{Topic: l.s.topic, Partition: l.p, Offset: off,
				Reason: fmt.Sprintf("no record where the index has version %d of the stream (was the topic truncated?)", wants[i].version)}
		}
		// Nothing came back yet (a lagging leader): try again shortly.
		if err := ctxtime.Sleep(l.ctx, time.Duration(min(attempt+1, 20))*time.Millisecond); err != nil {
			return record{}, err
		}
	}
}

// ReadAll yields every committed event after the positions in from, up to
// the end of the log when the call started; see [eventstore.Store.ReadAll].
// The end is each partition's high watermark, so ReadAll waits for
// transactions open at the start to end, at most 2s without progress. A
// transaction open longer (a hung or dead writer, a paused broker) may
// hide acknowledged appends behind it, so ReadAll then yields, after
// every event it could read, an error matching [eventstore.ErrUnavailable]
// that names the partitions held back; retry from the positions read.
// It reads with read_committed isolation, so events of aborted or open
// transactions never appear. A record that is not a valid event yields a
// [*CorruptRecordError] (naming topic, partition and offset) with an event
// whose Position (and StreamID, the record's key) is set; the sequence
// goes on with the next record if the caller keeps iterating, so a reader
// can record the bad position and skip it. Not a valid event includes an
// event out of place in its stream (a version that is not the stream's
// next: a gap or duplicate written around kafkaes, as the index judges
// it); that one is yielded with the decoded event.
func (s *Store) ReadAll(ctx context.Context, from eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	ro := eventstore.ReadOptionsOf(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if s.isClosed() {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: read all", eventstore.ErrClosed))
			return
		}
		s.readLog(ctx, s.f, from, false, ro, yield)
	}
}

// Subscribe is ReadAll that keeps waiting for new events after it has
// caught up; see [eventstore.Store.Subscribe]. Every subscription uses its
// own connection, so its long polls never delay the store's appends. It ends
// with ctx's error when ctx is done, and with [eventstore.ErrClosed] when the
// store is closed.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	ro := eventstore.ReadOptionsOf(opts)
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if s.isClosed() {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: subscribe", eventstore.ErrClosed))
			return
		}
		client, err := sarama.NewClient(s.addrs, s.subscriberConfig())
		if err != nil {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: subscribe to %s: connect: %w", s.topic, err))
			return
		}
		defer client.Close()
		s.readLog(ctx, &fetcher{client: client, topic: s.topic}, from, true, ro, yield)
	}
}

func (s *Store) subscriberConfig() *sarama.Config {
	cfg := *s.cfg
	cfg.MetricRegistry = metrics.NewRegistry()
	return &cfg
}

// readLog reads the partitions from the checkpoint with read_committed
// isolation: up to their last stable offsets as of the start (live=false),
// or on and on (live=true).
func (s *Store) readLog(ctx context.Context, f *fetcher, from eventstore.Checkpoint, live bool, ro eventstore.ReadOptions, yield func(eventstore.RecordedEvent, error) bool) {
	filtered := ro.Filtered()
	// Closing the store ends the read at once, even while it waits for a
	// broker that is down, with ErrClosed rather than a context error.
	parent := ctx
	ctx, cancel := s.endOnClose(ctx, 0)
	defer cancel()
	emit := yield
	yield = func(ev eventstore.RecordedEvent, err error) bool {
		if err != nil && parent.Err() == nil && s.isClosed() && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: the store was closed during the read", eventstore.ErrClosed)
		}
		return emit(ev, err)
	}
	all := make([]int32, s.nparts)
	for i := range all {
		all[i] = int32(i)
	}
	starts, err := retry(ctx, func() (map[int32]int64, error) {
		return f.listOffsets(ctx, all, sarama.OffsetOldest, sarama.ReadCommitted)
	})
	if err != nil {
		yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: read %s: %w", s.topic, err))
		return
	}
	var ends map[int32]int64
	if !live {
		// The end is the high watermark, not the last stable offset: on a
		// real broker an append is acknowledged a moment before its commit
		// markers make it visible to read_committed readers, and ReadAll
		// must include every append acknowledged before it started. Reading
		// up to the high watermark waits for the transactions open at the
		// start to end.
		ends, err = retry(ctx, func() (map[int32]int64, error) {
			return f.listOffsets(ctx, all, sarama.OffsetNewest, sarama.ReadUncommitted)
		})
		if err != nil {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: read %s: %w", s.topic, err))
			return
		}
	}
	pos := make(map[int32]int64, len(all))
	for _, p := range all {
		at := max(from[p], starts[p])
		if live || at < ends[p] {
			pos[p] = at
		}
	}
	wait := time.Duration(0)
	if live {
		wait = subscribeWait
	}
	idle, lastProgress := 0, time.Now()
	for len(pos) > 0 {
		if s.isClosed() {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: the store was closed during the read", eventstore.ErrClosed))
			return
		}
		res, err := retry(ctx, func() (map[int32]*partResult, error) {
			return f.fetch(ctx, pos, sarama.ReadCommitted, wait, fetchMaxBytes)
		})
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			yield(eventstore.RecordedEvent{}, fmt.Errorf("kafka: read %s: %w", s.topic, err))
			return
		}
		progressed := false
		for _, p := range slices.Sorted(func(y func(int32) bool) {
			for p := range res {
				if !y(p) {
					return
				}
			}
		}) {
			pr := res[p]
			for _, rec := range pr.recs {
				if !live && rec.offset >= ends[p] {
					break
				}
				if err := ctx.Err(); err != nil {
					yield(eventstore.RecordedEvent{}, err)
					return
				}
				if filtered {
					// Filter on the key and the es.type header before
					// decoding anything; a record without a type header
					// is not a valid event and goes on to be reported.
					if !ro.MatchStream(string(rec.key)) {
						continue
					}
					if t, ok := wire.Header(rec.headers, wire.HeaderType); ok && !ro.MatchType(string(t)) {
						continue
					}
				}
				ev, err := wire.Decode(s.topic, p, rec.offset, rec.key, rec.value, rec.headers, rec.ts)
				if err != nil {
					ev = corruptAt(p, rec.offset, rec.key)
				} else {
					err = s.checkPlace(ctx, p, rec.offset, rec.key, ev)
				}
				if !yield(ev, err) {
					return
				}
			}
			if pr.next > pos[p] {
				pos[p] = pr.next
				progressed = true
			}
			if !live && pos[p] >= ends[p] {
				delete(pos, p)
			}
		}
		if err := ctx.Err(); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if progressed || live {
			idle, lastProgress = 0, time.Now()
			continue
		}
		// Held back by a transaction that is still open: wait for it, but
		// not for one that stays open longer than any acknowledged append
		// takes to become visible (a hung or crashed writer, a paused
		// broker). Records behind it may be acknowledged appends, so the
		// read cannot claim to have reached the end as of its start: it
		// says so with ErrUnavailable after everything it could read.
		if time.Since(lastProgress) > readWait {
			held := make([]string, 0, len(pos))
			for _, p := range slices.Sorted(maps.Keys(pos)) {
				held = append(held, fmt.Sprintf("partition %d at offset %d of %d", p, pos[p], ends[p]))
			}
			yield(eventstore.RecordedEvent{}, fmt.Errorf("%w: kafka: read %s: held back for %v by a transaction still open (a writer that died or hangs with it open, or a broker that does not answer): %s; events up to there were yielded, later ones (possibly acknowledged appends) were not; retry from the positions read so far (the broker aborts a dead writer's transaction after its transaction timeout)",
				eventstore.ErrUnavailable, s.topic, readWait, strings.Join(held, ", ")))
			return
		}
		idle++
		if err := ctxtime.Sleep(ctx, time.Duration(min(idle, 20))*time.Millisecond); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
	}
	if err := ctx.Err(); err != nil {
		yield(eventstore.RecordedEvent{}, err)
	}
}
