package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
)

// The steps of a group commit (process) and of a multi-stream append
// (processMulti, multi.go), one method each, in the order of the package
// documentation's argument:
//
//  1. check: every append against the index (a catch-up first when the
//     check fails, so that a stale index never fails an append);
//  2. write: begin a transaction and produce the records (write, shared);
//  3. scan: the conflict scan of the range between the index and each
//     append's first record (conflictScan, shared), then the decision on
//     what it met;
//  4. commit, unless a caller gave up meanwhile (worker.commit, shared);
//  5. report: record the worker's own events in the index and tell the
//     callers (recordOwn and cacheOwn, shared).
//
// A step that ends the transaction early finishes the appends it decided
// and queues the others for another attempt; process and processMulti
// stop there.

// process runs one group of appends in one transaction and finishes each
// append, except those it returns for another attempt.
func (w *worker) process(batch []*appendReq) (retry []*appendReq) {
	if t := w.s.opts.tracer; t != nil && t.rawTxn() {
		w.processRaw(batch)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
	defer cancel()
	g := &groupTxn{w: w, ctx: ctx}
	live := g.check(batch)
	if len(live) == 0 {
		return nil
	}
	pre, ok := g.write(live)
	if ok && g.scan(live, pre) && g.commit(live) {
		g.report(live)
	}
	return g.retry
}

// groupTxn is one group commit of process: its context and the appends
// it returns for another attempt.
type groupTxn struct {
	w     *worker
	ctx   context.Context
	retry []*appendReq
}

// fail finishes the appends rs with err.
func (g *groupTxn) fail(rs []*appendReq, err error) {
	for _, r := range rs {
		r.finish(eventstore.AppendResult{}, err)
	}
}

// again queues the appends rs for another attempt, counting one against
// each, after a failure of the transaction (cause); an append that used
// its attempts fails with ErrUnavailable.
func (g *groupTxn) again(rs []*appendReq, cause error) {
	if kafkaauth.Fatal(cause) {
		// A missing ACL or failed authentication does not heal by
		// retrying: fail at once, saying which ACL to add.
		g.fail(rs, cause)
		return
	}
	for _, r := range rs {
		r.attempts++
		if r.attempts >= maxAttempts {
			r.finish(eventstore.AppendResult{}, fmt.Errorf("%w: kafka: append to stream %q gave up after %d attempts, nothing was written; retry later (last cause: %w)",
				eventstore.ErrUnavailable, r.stream, r.attempts, cause))
			continue
		}
		g.requeue(r, stateClaimed)
	}
}

// requeue queues r for another attempt, without counting one against it,
// unless its caller gave up (its state is no longer from).
func (g *groupTxn) requeue(r *appendReq, from int32) {
	if r.state.CompareAndSwap(from, stateQueued) {
		g.retry = append(g.retry, r)
	}
}

// check is step 1: it checks every append of batch against the index,
// finishes those the check decides (a conflict, a repeat, a failure) and
// returns the others, to be written.
func (g *groupTxn) check(batch []*appendReq) []*appendReq {
	w, s := g.w, g.w.s
	// Check every append against the index as it is. Only when the
	// check fails is the index caught up first and the check repeated, so
	// that a stale index never fails an append; a stale index that passes is
	// harmless, as the conflict scan below sees everything it missed.
	if err := s.catchUpStale(g.ctx, partsOf(batch)); err != nil {
		g.fail(batch, err)
		return nil
	}
	live := batch[:0:0]
	var doubtful []*appendReq
	for _, r := range batch {
		if r.state.Load() == stateCancelled {
			continue
		}
		if res, err, done := w.check(r); done {
			if err != nil && (mayBeStale(r, err) || !s.idx[r.part].isBlocked()) {
				doubtful = append(doubtful, r)
				continue
			}
			r.finish(res, err)
			continue
		}
		live = append(live, r)
	}
	if len(doubtful) > 0 {
		// A failed check is repeated after a catch-up that waits a
		// little for open transactions, so that a stale index does not
		// fail a valid append. (Answering definite conflicts at once
		// instead made appends 2-3x slower under contention on a real
		// broker: their callers' retries aborted more group commits.) In
		// a blocked partition, where the wait would only hold the worker
		// up, only a check that may have failed by the index being behind
		// (the append expects more than it holds) waits; a conflict where
		// the index holds more than expected is definite.
		//
		// A catch-up that did not finish within checkWait because the
		// leader was slow (a loaded cluster; seen on RF 3 under -race)
		// does not fail an ordinary append either: the check is repeated
		// on the index as it stands, which answers a conflict (nothing
		// written: true, and a reload clears it) or lets the append go on
		// to the conflict scan, which holds whatever the index lacks. Only
		// a repeat of an append whose outcome is unknown needs the
		// catch-up: on a stale index a conflict would not prove that the
		// first attempt was not written, so it fails with ErrUnavailable
		// (which such a repeat reports as still unknown).
		err := s.catchUpStall(g.ctx, partsOf(doubtful), true, checkWait, true, nil)
		for _, r := range doubtful {
			if recheckFails(g.ctx, err, r.doubt != nil) {
				r.finish(eventstore.AppendResult{}, unavailable("catch up the stream index for the version check", err))
				continue
			}
			if res, err, done := w.check(r); done {
				r.finish(res, err)
			} else {
				live = append(live, r)
			}
		}
	}
	if len(live) > 0 && s.opts.tracer != nil {
		w.tracef("version check: %d appends", len(live))
	}
	return live
}

// write is step 2: it writes the appends live in a transaction and
// returns the start of their conflict scan (see worker.write); when that
// fails, the appends whose events the broker refused fail and the others
// are tried again.
func (g *groupTxn) write(live []*appendReq) (pre <-chan map[int32]*partResult, ok bool) {
	pre, failed, err := g.w.write(g.ctx, live)
	if err != nil {
		var rest []*appendReq
		for _, r := range live {
			if e := failed[r]; e != nil {
				r.finish(eventstore.AppendResult{}, e)
			} else {
				rest = append(rest, r)
			}
		}
		g.again(rest, err)
		return nil, false
	}
	return pre, true
}

// scan is step 3: the conflict scan of the appends live. When it met
// records of their streams, or failed, the transaction is aborted, the
// appends that conflict for real fail and the others are tried again.
func (g *groupTxn) scan(live []*appendReq, pre <-chan map[int32]*partResult) bool {
	w, s := g.w, g.w.s
	conflicts, err := w.conflictScan(g.ctx, live, pre)
	if s.opts.tracer != nil {
		w.tracef("conflict scan: %d conflicts, %v", len(conflicts), err)
	}
	if err != nil {
		var he *hangingError
		if errors.As(err, &he) {
			s.opts.logger.Warn("kafkaes: settling records Kafka left without a transaction marker", "transactional_id", w.id, "error", err)
		}
		if s.opts.tracer != nil {
			w.tracef("scan: %v: abort", err)
		}
		s.markSuspect()
		w.abort(err)
		g.again(live, err)
		return false
	}
	if len(conflicts) == 0 {
		return true
	}
	if s.opts.tracer != nil {
		var group []string
		for _, r := range live {
			group = append(group, r.stream)
		}
		w.tracef("conflict scan: %d conflicts: abort (group: %s)", len(conflicts), strings.Join(group, " "))
	}
	w.abort(nil)
	// Someone else wrote to these streams meanwhile (or has an open
	// transaction on them). Decide with the index, which the scan has
	// brought up to date: a real conflict fails, anything else (a
	// transaction still open) is tried again after a pause.
	var rest []*appendReq
	for _, r := range live {
		if !conflicts[r] {
			// A bystander: retried at once, without counting an
			// attempt against it (it did nothing wrong).
			g.requeue(r, stateClaimed)
			continue
		}
		// After a few such conflicts the append goes in a
		// transaction of its own, so that while the records it met
		// stay undecided (another writer's transaction, maybe of a
		// dead writer) it does not make the appends of other streams
		// abort with it. (Not at once: under contention on a real
		// broker, records of another instance's transaction are
		// undecided for a moment after every commit.)
		r.solo = r.solo || r.attempts >= 2
		// The full check, not only the expected version: the record
		// the scan met may be this very append's first attempt, whose
		// commit outcome was unknown to its caller and which has now
		// committed; the retry is then an idempotent repeat.
		if res, err, done := w.check(r); done {
			r.finish(res, err)
			continue
		}
		if r.expected == eventstore.Any {
			// An Any append conflicts with nothing: what it met are
			// records of another writer not decided yet. It waits for
			// them without using up its attempts, alone after the
			// second wait, until its append timeout, which ends it with
			// ErrUnavailable (a ConflictError would tell its caller to
			// reload and decide again, for nothing).
			r.waits++
			r.solo = r.solo || r.waits >= 2
			r.delay(r.waits)
			g.requeue(r, stateClaimed)
			continue
		}
		switch {
		case r.attempts+1 >= maxAttempts:
			r.finish(eventstore.AppendResult{}, &eventstore.ConflictError{StreamID: r.stream, Expected: r.expected, Actual: -1})
		default:
			r.delay(r.attempts)
			rest = append(rest, r)
		}
	}
	g.again(rest, errors.New("a concurrent append conflicted"))
	return false
}

// commit is step 4: it commits the transaction, unless a caller gave up
// meanwhile.
func (g *groupTxn) commit(live []*appendReq) bool {
	w := g.w
	var cancelled bool
	for _, r := range live {
		if !r.state.CompareAndSwap(stateClaimed, stateCommitting) {
			cancelled = true
		}
	}
	if cancelled {
		if w.s.opts.tracer != nil {
			w.tracef("a caller gave up: abort")
		}
		w.abort(nil)
		// The others did nothing wrong: retried at once, without
		// counting an attempt against them.
		for _, r := range live {
			g.requeue(r, stateCommitting)
		}
		return false
	}
	return w.commit(g.ctx, func(err error) { g.fail(live, err) })
}

// report is step 5: done, it records our own events in the index before
// catch-up sees their commit markers, and reports.
func (g *groupTxn) report(live []*appendReq) {
	for i, res := range g.w.recordOwn(live) {
		live[i].finish(res, nil)
	}
	g.w.cacheOwn(live)
}

// write begins a transaction for reqs and produces their records, and
// extra (records of other topics: a process manager's positions) with
// them (step 2 of process and processMulti). It returns the start of the conflict
// scan's range (pre), read meanwhile. When the produce fails, the
// transaction is settled or the producer recovered (sendFailed): err is
// the cause to retry with, and failed holds the appends whose events the
// broker refused for good.
func (w *worker) write(ctx context.Context, reqs []*appendReq, extra ...*sarama.ProducerMessage) (pre <-chan map[int32]*partResult, failed map[*appendReq]error, err error) {
	if err := w.start(ctx, reqs); err != nil {
		return nil, nil, err
	}
	msgs := append(w.encode(reqs), extra...)
	// Start reading the scan range while the records are written: what is
	// in the log now is below our first offset, so only the rest, often
	// nothing, remains to be read once the produce returns.
	ch := make(chan map[int32]*partResult, 1)
	go func() { ch <- w.prescan(ctx, reqs) }()
	if err := w.prod.send(ctx, msgs); err != nil {
		<-ch
		failed, err := w.sendFailed(ctx, reqs, err)
		return nil, failed, err
	}
	return ch, nil, nil
}

// conflictScan is the conflict scan of the written appends reqs (step 3
// of process and processMulti), from pre, the start that write read: it
// returns the appends that met a record of their stream below their
// upper bound.
func (w *worker) conflictScan(ctx context.Context, reqs []*appendReq, pre <-chan map[int32]*partResult) (map[*appendReq]bool, error) {
	if err := w.bounds(ctx, reqs); err != nil {
		<-pre
		return nil, err
	}
	if t := w.s.opts.tracer; t != nil && t.skipScan() {
		<-pre
		return nil, nil
	}
	return w.scan(ctx, reqs, <-pre)
}

// bounds sets where the conflict scan of each append of reqs stops
// (r.upper): at its first record; for a condition-only entry of a
// multi-stream append, which wrote none, at the high watermark read now,
// after the produce was acknowledged (see multi.go).
func (w *worker) bounds(ctx context.Context, reqs []*appendReq) error {
	var condParts []int32
	for _, r := range reqs {
		if len(r.msgs) > 0 {
			r.upper = r.msgs[0].Offset
		} else {
			condParts = append(condParts, r.part)
		}
	}
	if len(condParts) == 0 {
		return nil
	}
	hw, err := retry(ctx, func() (map[int32]int64, error) {
		return w.s.f.listOffsets(ctx, condParts, sarama.OffsetNewest, sarama.ReadUncommitted)
	})
	if err != nil {
		return fmt.Errorf("kafka: read the high watermarks of the conditions' partitions: %w", err)
	}
	for _, r := range reqs {
		if len(r.msgs) == 0 {
			r.upper = hw[r.part]
		}
	}
	return nil
}
