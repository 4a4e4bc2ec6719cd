package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

// Catch-up: reading the committed records of partitions into their
// indexes (index.go), up to the last stable offset or, when strong, the
// high watermark.

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
	// The partitions' catch-up locks (lockCatch) are held while fetching
	// and applying, and released while waiting for open transactions, so
	// that concurrent catch-ups (reads waiting for the same open
	// transaction) wait side by side rather than one after the other.
	holding := map[int32]bool{}
	defer func() {
		for p := range holding {
			s.idx[p].unlockCatch()
		}
	}()
	lock := func(ps []int32) []int32 {
		got := ps[:0:0]
		for _, p := range ps { // in order: no lock-order inversion
			if try && s.idx[p].isBlocked() {
				if !s.idx[p].tryLockCatch() {
					continue
				}
			} else {
				s.idx[p].lockCatch()
			}
			holding[p] = true
			got = append(got, p)
		}
		return got
	}
	parts = lock(parts)
	pending := make(map[int32]int64, len(parts))
	for _, p := range parts {
		pending[p] = s.idx[p].nextOffset()
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
				ix.noteUndecided(r.lso)
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
				if r.lso < r.hw {
					ix.caughtUp(r.lso)
				} else {
					ix.caughtUp(-1)
				}
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
		s.idx[p].noteUndecided(next)
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
