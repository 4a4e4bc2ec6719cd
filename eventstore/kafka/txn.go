package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// defaultStaleIndex is how old a partition's last catch-up may be before
// an append catches it up before its version check rather than
// concurrently with its transaction.
const defaultStaleIndex = 250 * time.Millisecond

// checkWait bounds how long a failed version check waits for transactions
// open in its partition before it is repeated (see catchUpWaiting). The
// worker waits, so the bound is short: a stale index then gives a conflict
// that a reload clears.
const checkWait = 100 * time.Millisecond

// worker runs group-commit transactions on one transactional producer.
type worker struct {
	s    *Store
	id   string // transactional ID
	prod *txnProducer
	// checked is the store's suspect generation (Store.suspect) as of the
	// worker's last settle check: when the store has seen an error since,
	// the next transaction first settles records of the worker's producer
	// left without markers (settle.go).
	checked uint64
	// settleAll widens the next settle check to every partition of the
	// topic (set for a new producer: records an earlier producer with the
	// same transactional ID left may be anywhere).
	settleAll bool
	// committed holds, per partition (of any topic the worker writes),
	// the offsets [first, last] of the producer's last acknowledged
	// commit there.
	committed map[topicPart][2]int64
	// wrote holds every partition the worker's producers sent records to
	// (txnProducer.wrote).
	wrote map[topicPart]bool
	// pending is the epoch of a closed producer whose settling
	// transaction's commit is pending (txnProducer.pendingCommit): the
	// next producer commits it before it takes a new epoch.
	pending *producerEpoch
	// openParts, when set, are the partitions of a transaction (without
	// records) left open because the settle check before its writes
	// failed (settleOpen): it is checked again and ended before the
	// producer is used for anything else.
	openParts []topicPart
}

func (w *worker) ensureProducer() error {
	if w.prod != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
	defer cancel()
	settleEnded := func(err error) { w.settleEnded(nil, err) }
	p, err := newTxnProducer(ctx, w.s.addrs, w.s.cfg, w.id, w.s.topic, w.s.opts.txnTimeout, w.s.opts.tracer, w.pending, settleEnded)
	if err != nil {
		return fmt.Errorf("kafka: create the transactional producer %q: %w", w.id, err)
	}
	w.pending = nil
	p.onNetErr = w.s.markSuspect
	if w.wrote == nil {
		w.wrote, w.committed = map[topicPart]bool{}, map[topicPart][2]int64{}
	}
	p.wrote = w.wrote
	p.onCommit = func(sent map[topicPart][2]int64) {
		for tp, r := range sent {
			w.committed[tp] = r
		}
	}
	w.prod = p
	w.settleAll = true
	w.checked = 0 // settle before the first transaction
	return nil
}

// txnBackoff is the wait before retry number retries (from 0) of a
// transactional request: 1ms, doubling up to 50ms. A transaction's first
// AddPartitionsToTxn meets CONCURRENT_TRANSACTIONS while the broker still
// writes the previous transaction's markers (milliseconds), so retries
// start quickly.
func txnBackoff(retries, _ int) time.Duration {
	return min(time.Millisecond<<min(retries, 6), 50*time.Millisecond)
}

func (w *worker) tracef(format string, args ...any) {
	if t := w.s.opts.tracer; t != nil {
		t.tracef(w.id+": "+format, args...)
	}
}

func (w *worker) closeProducer() {
	w.s.markSuspect()
	if w.prod != nil {
		if w.prod.pendingCommit {
			// The next producer commits it before its InitProducerId.
			w.pending = &producerEpoch{w.prod.pid, w.prod.epoch}
		}
		w.prod.close()
		w.prod = nil
	}
}

// shutdown closes the worker's producer when the store closes. A
// settling transaction whose commit is still pending is committed first
// (within the append timeout): left open, the coordinator would abort it
// after the transaction timeout, and the acknowledged records it settles
// with it.
func (w *worker) shutdown() {
	lost := func(err error) {
		w.s.opts.logger.Error("kafkaes: closing with a settling transaction whose commit did not arrive; acknowledged appends whose markers Kafka skipped may be lost when the coordinator aborts it", "topic", w.s.topic, "transactional_id", w.id, "error", err)
	}
	if w.prod == nil && w.pending != nil {
		// The producer was closed with the commit pending and not
		// replaced yet: a new one commits it before its InitProducerId.
		if err := w.ensureProducer(); err != nil {
			lost(err)
		}
	}
	if w.prod != nil && w.prod.pendingCommit {
		ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
		err := w.prod.commitSettle(ctx)
		cancel()
		if err != nil {
			lost(err)
		}
	}
	if w.openParts != nil && w.prod != nil && w.prod.inTxn {
		// A transaction left open by a failed settle check: one more
		// check ends it; otherwise the coordinator aborts it after the
		// transaction timeout.
		ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
		err := w.settleOpen(ctx, w.openParts)
		cancel()
		if err != nil {
			lost(err)
		}
	}
	w.closeProducer()
}

// recover brings the producer back to a usable state after err: it aborts
// the open transaction; the producer re-initialises itself (a new epoch,
// which also aborts anything left open) before its next transaction when
// err left its state uncertain, and is replaced when even the abort failed
// or it was fenced.
func (w *worker) recover(err error) {
	w.s.markSuspect()
	if w.prod == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
	defer cancel()
	aerr := w.prod.end(ctx, false)
	if aerr != nil || errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch) {
		w.s.opts.logger.Warn("kafkaes: replacing the transactional producer", "transactional_id", w.id, "error", err, "abort_error", aerr)
		w.closeProducer()
	}
}

// cacheOwn adds the records of a committed transaction to the read cache,
// after the callers were told: it is not on their path.
func (w *worker) cacheOwn(live []*appendReq) {
	for _, r := range live {
		if len(r.msgs) > 0 {
			w.s.rcache.putOwn(r.part, r.msgs)
		}
	}
}

// processRaw writes batch in a bare transaction (WithTestRawTxn, for
// benchmarks): the same producer, grouping, records and round trips as
// process, without the version check, the conflict scan and the index.
func (w *worker) processRaw(batch []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
	defer cancel()
	fail := func(err error) {
		for _, r := range batch {
			r.finish(eventstore.AppendResult{}, err)
		}
	}
	for _, r := range batch {
		r.base = 0
	}
	if err := w.start(ctx, batch); err != nil {
		fail(err)
		return
	}
	if err := w.prod.send(ctx, w.encode(batch)); err != nil {
		w.recover(err)
		fail(err)
		return
	}
	for _, r := range batch {
		r.state.CompareAndSwap(stateClaimed, stateCommitting)
	}
	if err := w.prod.end(ctx, true); err != nil {
		w.closeProducer()
		fail(err)
		return
	}
	for _, r := range batch {
		pos := make([]eventstore.Position, len(r.msgs))
		for i, m := range r.msgs {
			pos[i] = eventstore.Position{Partition: m.Partition, Offset: m.Offset}
		}
		r.finish(eventstore.AppendResult{Version: int64(len(r.events)), Positions: pos}, nil)
	}
}

// start gets the worker's producer ready (a new one, or settling what an
// error may have left behind) and begins a transaction for live.
func (w *worker) start(ctx context.Context, live []*appendReq) error {
	if err := w.ensureProducer(); err != nil {
		return err
	}
	if err := w.settleIfSuspect(ctx, w.s.eventParts(partsOf(live))); err != nil {
		return err
	}
	if err := w.prod.begin(ctx); err != nil {
		w.recover(err)
		return err
	}
	return nil
}

// encode builds the records of the appends in live (their versions follow
// the bases their checks recorded) and keeps each append's in r.msgs.
func (w *worker) encode(live []*appendReq) []*sarama.ProducerMessage {
	var msgs []*sarama.ProducerMessage
	at := time.Now().UTC()
	for _, r := range live {
		r.msgs = r.msgs[:0]
		for i, ev := range r.events {
			key, hdrs := wire.Encode(r.stream, r.base+int64(i)+1, ev, at)
			m := &sarama.ProducerMessage{
				Topic: w.s.topic, Partition: r.part, Key: sarama.ByteEncoder(key),
				Value: sarama.ByteEncoder(ev.Data), Headers: hdrs, Timestamp: at, Metadata: r,
			}
			r.msgs = append(r.msgs, m)
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// sendFailed handles a failed produce of the transaction of live: it
// settles (errRecheck: nothing was written) or recovers the producer, and
// returns the cause to retry with and the appends whose events the broker
// refused for good (they fail; their transaction is aborted).
func (w *worker) sendFailed(ctx context.Context, live []*appendReq, err error) (map[*appendReq]error, error) {
	failed := map[*appendReq]error{}
	if errors.Is(err, errRecheck) {
		// Nothing was written; settle before writing.
		if w.s.opts.tracer != nil {
			w.tracef("recheck: a coordinator request met a network error; settling before writing")
		}
		if serr := w.settleOpen(ctx, w.s.eventParts(partsOf(live))); serr != nil {
			err = serr
		}
		return failed, err
	}
	w.recover(err)
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) {
		for _, pe := range perrs {
			if r, ok := pe.Msg.Metadata.(*appendReq); ok && failed[r] == nil && permanent(pe.Err) {
				failed[r] = refused(r.stream, pe.Err)
			}
		}
	}
	return failed, err
}

// recordOwn records the events of a committed transaction in the index
// (before catch-up sees their commit markers) and returns each append's
// result; cacheOwn adds them to the read cache. Appends without events (the conditions of
// a multi-stream append) get their stream's version.
func (w *worker) recordOwn(live []*appendReq) []eventstore.AppendResult {
	s := w.s
	out := make([]eventstore.AppendResult, len(live))
	ownOffsets := map[int32][]int64{}
	allApplied := map[int32]bool{}
	for k, r := range live {
		if len(r.msgs) == 0 {
			out[k] = eventstore.AppendResult{Version: r.base}
			continue
		}
		if _, ok := allApplied[r.part]; !ok {
			allApplied[r.part] = true
		}
		for _, m := range r.msgs {
			ownOffsets[r.part] = append(ownOffsets[r.part], m.Offset)
		}
		offsets := make([]int64, len(r.msgs))
		pos := make([]eventstore.Position, len(r.msgs))
		for i, m := range r.msgs {
			offsets[i] = m.Offset
			pos[i] = eventstore.Position{Partition: m.Partition, Offset: m.Offset}
		}
		if !s.idx[r.part].applyOwn(r.stream, r.base+1, offsets, r.events, s.opts.idWindow) {
			allApplied[r.part] = false
		}
		if w.s.opts.tracer != nil {
			w.tracef("committed %s versions %d..%d at %v", r.stream, r.base+1, r.base+int64(len(r.events)), offsets)
		}
		out[k] = eventstore.AppendResult{Version: r.base + int64(len(r.events)), Positions: pos}
	}
	for p, offs := range ownOffsets {
		if allApplied[p] {
			s.idx[p].addOwn(offs)
		}
	}
	return out
}

// catchUpStale catches up the index of those of parts that have not been
// caught up for a while (WithStaleIndex's age) before a version check: an
// old index would make the conflict scan long. Its error is the append's
// (ErrUnavailable: nothing was written).
func (s *Store) catchUpStale(ctx context.Context, parts []int32) error {
	var stale []int32
	for _, p := range parts {
		if s.idx[p].staleFor(s.opts.staleIndex) {
			stale = append(stale, p)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	if err := s.catchUpStall(ctx, stale, false, appendStall, true, nil); err != nil {
		return unavailable("catch up the stream index before the version check", err)
	}
	return nil
}

// recheckFails reports whether the catch-up before a repeated version
// check failed in a way that fails the append (see groupTxn.check): not
// when it only waited for a transaction held open, nor when a slow leader
// made it time out, unless the append repeats one whose outcome is unknown
// (doubt), which needs the caught-up index to prove anything.
func recheckFails(ctx context.Context, err error, doubt bool) bool {
	if err == nil {
		return false
	}
	var held *heldBackError
	slow := errors.Is(err, eventstore.ErrUnavailable) && ctx.Err() == nil
	return !errors.As(err, &held) && (!slow || doubt)
}

// commit commits the worker's open transaction. When the coordinator
// refused the commit or did not answer, whether the transaction commits
// is not known here (a refused commit is aborted by the broker, but a
// fenced producer cannot tell): the error wraps ErrUnknownOutcome, and
// failed is called with it (to tell the callers) before the producer is
// replaced at once rather than at this worker's next group, so that the
// transaction is settled: a new producer with the same transactional ID
// makes the coordinator finish a commit it accepted, or abort the
// transaction, before it answers. A caller's retry with the same event
// IDs then finds the events committed (an idempotent repeat) or writes
// them, instead of meeting the undecided records in its conflict scan
// until the transaction timeout. When the broker is away the replacement
// fails; the next group tries again. It reports whether the commit
// succeeded.
func (w *worker) commit(ctx context.Context, failed func(error)) bool {
	err := w.prod.end(ctx, true)
	if err == nil {
		return true
	}
	w.closeProducer()
	failed(fmt.Errorf("%w: %w", ErrUnknownOutcome, err))
	if ierr := w.ensureProducer(); ierr != nil && w.s.opts.tracer != nil {
		w.tracef("re-initialise after a failed commit: %v", ierr)
	}
	return false
}

// appendStall is how long the catch-up before an append's version check
// may make no progress (a partition whose leader does not answer) before
// the append fails with eventstore.ErrUnavailable.
const appendStall = 5 * time.Second

// mayBeStale reports whether the failed check of r (err) may be due to an
// index that is behind the log: a duplicate ID (a catch-up may have
// stopped inside a transaction), or a conflict where the append expects
// more than the index holds. A conflict where the index holds more than
// expected is definite: the index holds only committed events.
func mayBeStale(r *appendReq, err error) bool {
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) {
		// The lifecycle rules (deleted, not found, truncation point out
		// of range) judge the stream as the index holds it: a recreation
		// or more events may have been committed since.
		return errors.Is(err, eventstore.ErrDuplicateEventID) || errors.Is(err, eventstore.ErrStreamDeleted) ||
			errors.Is(err, eventstore.ErrStreamNotFound) || (r.marker.Kind != eventstore.MarkerNone && errors.Is(err, eventstore.ErrInvalidArgument))
	}
	switch e := r.expected; {
	case e == eventstore.StreamExists:
		return ce.Actual == 0
	case e >= 0:
		return int64(e) > ce.Actual
	}
	return false
}

// unavailable wraps err, the failure of what the store tried to do, in
// eventstore.ErrUnavailable unless it already is a typed error of the
// append contract.
func unavailable(what string, err error) error {
	if errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, eventstore.ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: kafka: %s: %w (nothing was written)", eventstore.ErrUnavailable, what, err)
}

// partsOf returns the partitions of reqs, one entry per request.
func partsOf(reqs []*appendReq) []int32 {
	parts := make([]int32, len(reqs))
	for i, r := range reqs {
		parts[i] = r.part
	}
	return parts
}

func (w *worker) abort(cause error) {
	if w.prod == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
	defer cancel()
	if err := w.prod.end(ctx, false); err != nil {
		w.s.opts.logger.Warn("kafkaes: abort failed; replacing the producer", "transactional_id", w.id, "error", err)
		w.closeProducer()
	} else if cause != nil {
		w.s.opts.logger.Debug("kafkaes: aborted a transaction", "transactional_id", w.id, "cause", cause)
	}
}

// refused is the error of an append whose event the broker refused for
// good (its transaction was aborted: nothing was written). An event too
// large or malformed is the caller's to change (eventstore.ErrInvalidArgument).
func refused(stream string, err error) error {
	if errors.Is(err, sarama.ErrMessageSizeTooLarge) || errors.Is(err, sarama.ErrInvalidMessage) || errors.Is(err, sarama.ErrInvalidRecord) {
		return fmt.Errorf("%w: kafka: append to stream %q: the broker refused an event, nothing was written (make the events smaller, or raise the topic's max.message.bytes): %w", eventstore.ErrInvalidArgument, stream, err)
	}
	return fmt.Errorf("kafka: append to stream %q: the broker refused an event, nothing was written: %w", stream, err)
}

// permanent reports whether a produce error will not go away by retrying.
func permanent(err error) bool {
	return errors.Is(err, sarama.ErrMessageSizeTooLarge) || errors.Is(err, sarama.ErrInvalidMessage) ||
		errors.Is(err, sarama.ErrTopicAuthorizationFailed) ||
		errors.Is(err, sarama.ErrInvalidRecord) || errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed)
}

// doubtedRepeat reports whether r repeats the append its doubt is about
// (the same event IDs in the same order) and that append is in the stream,
// although its first events have left the idempotency window (a repeat
// that comes after more than the window's events were appended to a busy
// stream): each of its IDs still in the window sits at the version the
// doubted attempt gave it (doubt.base+1...), and the others at versions
// older than the window. Versions are unique and so are event IDs in a
// window, so those events are that attempt's. Without this the repeat
// would be refused as a partial duplicate although it was written.
func doubtedRepeat(st *streamState, r *appendReq) bool {
	x := r.doubt
	if x == nil || x.base < 0 || len(x.ids) != len(r.events) || x.base+int64(len(r.events)) > st.version {
		return false
	}
	found := 0
	for i, ev := range r.events {
		if ev.ID != x.ids[i] {
			return false
		}
		want := x.base + 1 + int64(i)
		k, ok := st.idAt(want)
		switch {
		case ok && k == keyOf(ev.ID):
			found++
		case ok:
			return false // another event at that version: not written
		case want > st.version-int64(len(st.ids)):
			return false // in the window, yet unknown
		}
	}
	return found > 0
}

// check compares an append with the index of its partition (see
// checkStream).
func (w *worker) check(r *appendReq) (res eventstore.AppendResult, err error, done bool) {
	return w.s.idx[r.part].check(r)
}

// checkStream compares the append r with st, its stream's state in the
// index, whose catch-up offset is next; the index calls it under its lock.
// It finishes the append (done) when it is a conflict, an idempotent
// repeat or a duplicate; otherwise it records the stream's version and the
// offsets the conflict scan starts from.
func checkStream(r *appendReq, st *streamState, next int64) (res eventstore.AppendResult, err error, done bool) {
	if st.corrupt != nil {
		return res, corruptStream(r.stream, st.corrupt), true
	}
	current := st.version
	repeat, last, err := eventstore.CheckIdempotent(r.stream, r.expected, current, r.events, st.lookupID)
	if err != nil && doubtedRepeat(st, r) {
		repeat, last, err = true, r.doubt.base+int64(len(r.events)), nil
	}
	if err != nil {
		return res, err, true
	}
	if repeat {
		first := last - int64(len(r.events)) + 1
		return eventstore.AppendResult{Version: last, Positions: positionsOf(st, r.part, first, last)}, nil, true
	}
	if err := st.lifeOf().CheckAppend(r.stream, current, r.recreate, r.marker); err != nil {
		return res, err, true
	}
	if !r.expected.Matches(current) {
		if x := r.doubt; x != nil && x.base >= 0 {
			// An earlier attempt with these IDs had an unknown outcome:
			// another event at the version it would have taken proves
			// that it was not written (versions are unique).
			if k, ok := st.idAt(x.base + 1); ok && k != keyOf(x.ids[0]) {
				r.proven.Store(true)
			}
		}
		return res, &eventstore.ConflictError{StreamID: r.stream, Expected: r.expected, Actual: current}, true
	}
	r.base, r.xsnap, r.lastKnown = current, next, st.lastOffset()
	return res, nil, false
}
