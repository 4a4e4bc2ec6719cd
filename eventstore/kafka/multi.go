package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Multi-stream appends.
//
// A multi-stream append is one Kafka transaction holding the records of
// several streams, on any partitions, so that read_committed readers see
// all of them or none. Each entry is an appendReq of its own (its stream,
// partition, expected version, events), checked against the index and
// covered by the conflict scan exactly as a single append is; the entries
// share one multiReq, and the first entry stands for the whole append in
// the dispatcher's queue and in the caller's wait. The dispatcher gives a
// multi-stream append a transaction of its own (it is not grouped with
// other appends): then every failure of one entry fails or retries the
// whole transaction, and nothing else is affected by it.
//
// A condition-only entry (no events: "stream S is still at version N")
// writes nothing, so there is no record of ours in its partition for the
// conflict scan to stop at. Its scan instead reads the partition up to the
// high watermark read after the produce of the transaction's records was
// acknowledged, and any record of the stream there that the check did not
// count (committed or still open) is a conflict. That order is what makes
// the condition safe against write skew: if transaction T writes A on the
// condition that C is unchanged, and U writes C on the condition that A is
// unchanged, then either T's read of C's partition (after T's produce)
// sees U's record of C, or U's record was produced after that read; and
// then U's own read of A's partition, later still, sees T's record of A.
// One of the two always sees the other, and a record seen is a conflict
// (or, once committed, a changed version), so both cannot commit. Plain
// appends to a stream need nothing new: a multi-stream append whose
// condition on C held is ordered before any later write to C.

// multiReq is one multi-stream append.
type multiReq struct {
	members []*appendReq // in the caller's order; members[0] is queued
	results []eventstore.AppendResult
	offsets *ConsumerOffsets // committed in the transaction, if set
}

// ConsumerOffsets are consumer-group offsets that
// [Store.AppendMultiWithOffsets] commits in the append's transaction, as a
// consumer in that group that owns the partitions (KIP-447): the offsets
// become the group's committed offsets exactly when the events are
// written. Process managers use it to append the effects of the events
// they consumed and move past them in one atomic step.
type ConsumerOffsets struct {
	// Group is the consumer group.
	Group string
	// GenerationID and MemberID identify the committing member, as the
	// group's coordinator assigned them (sarama.ConsumerGroupSession's
	// GenerationID and MemberID); a member that is no longer the owner of
	// the partitions is refused with ErrGroupFenced.
	GenerationID int32
	MemberID     string
	// GroupInstanceID is the member's static instance ID, nil if none.
	GroupInstanceID *string
	// Topic is the consumed topic.
	Topic string
	// Offsets holds, per partition of Topic, the offset of the next record
	// to consume.
	Offsets map[int32]int64
	// PositionTopic, when set, is a topic to which the transaction also
	// writes one position record per partition of Offsets (the format is
	// in package internal/wire: key group, topic and partition; value the
	// offset; partition the consumed partition modulo the topic's
	// partition count). The records commit exactly when the offsets do,
	// and are kept when Kafka loses a transactional offset commit (seen on
	// a 3-node cluster whose group coordinator was killed during the
	// commit; docs/faults.md), so a new owner of the partition can start
	// from the later of the two. The topic must exist, and the store's
	// principal needs Write on it. The default, "", writes none.
	PositionTopic string
}

// ErrGroupFenced is wrapped by the error of [Store.AppendMultiWithOffsets]
// when the consumer group refused the offsets because the committing
// member no longer owns its partitions (a rebalance gave them to another
// member, or the member was removed): nothing was written. Rejoin, read the
// group's committed offsets, and process from there.
var ErrGroupFenced = errors.New("kafka: the consumer group refused the offsets: the member no longer owns the partitions, nothing was written")

// lead is the entry that stands for the append in the queue.
func (m *multiReq) lead() *appendReq { return m.members[0] }

// busy reports whether a stream of m is in flight or taken.
func (m *multiReq) busy(taken ...map[string]bool) bool {
	for _, r := range m.members {
		for _, t := range taken {
			if t[r.stream] {
				return true
			}
		}
	}
	return false
}

// finish reports the outcome of the whole append to its caller.
func (m *multiReq) finish(results []eventstore.AppendResult, err error) {
	if err == nil {
		m.results = results // before finish's channel send: the caller reads it after
	}
	for _, r := range m.members[1:] {
		if err != nil {
			r.outcome.Store(outcomeFailed)
		} else {
			r.outcome.Store(outcomeOK)
		}
	}
	m.lead().finish(eventstore.AppendResult{}, err)
}

// fenced returns, when err says that the consumer group refused m's
// offsets, the error that reports it (more is added after the streams);
// otherwise nil.
func (m *multiReq) fenced(err error, more string) error {
	var fe *groupFencedError
	if !errors.As(err, &fe) {
		return nil
	}
	return fmt.Errorf("%w: multi-stream append to streams %s%s: %w", ErrGroupFenced, m.streams(), more, err)
}

// streams names the streams of m, for messages.
func (m *multiReq) streams() string {
	names := make([]string, len(m.members))
	for i, r := range m.members {
		names[i] = fmt.Sprintf("%q", r.stream)
	}
	return strings.Join(names, ", ")
}

var _ eventstore.MultiAppender = (*Store)(nil)

// AppendMulti appends to several streams in one Kafka transaction, all or
// nothing; see [eventstore.MultiAppender]. Each entry's expected version is
// enforced as for [Store.Append] (the index check, then the conflict scan
// of its partition), and a condition-only entry (no events) is held until
// the commit as the package documentation and multi.go describe. A
// multi-stream append gets a transaction of its own rather than joining a
// group commit, so its cost is about one transaction whatever the number
// of streams. An error wrapping [ErrUnknownOutcome] means that all of its
// entries were written or none; retry with the same event IDs.
func (s *Store) AppendMulti(ctx context.Context, appends ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	return s.appendMulti(ctx, nil, appends)
}

func (s *Store) appendMulti(ctx context.Context, offsets *ConsumerOffsets, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	prepared, err := eventstore.PrepareMulti(appends)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	m := &multiReq{offsets: offsets}
	for _, a := range prepared {
		evs := a.Events
		for i := range evs {
			evs[i].Data = append([]byte(nil), evs[i].Data...) // the caller may reuse its buffers
		}
		r := &appendReq{
			stream: a.StreamID, part: wire.PartitionString(a.StreamID, s.nparts),
			expected: a.Expected, events: evs, base: -1, multi: m, recreate: a.Recreate,
		}
		if len(evs) > 0 {
			r.doubt = s.doubts.lookup(a.StreamID, evs)
		}
		m.members = append(m.members, r)
	}
	m.lead().done = make(chan appendOutcome, 1)
	_, err = s.await(ctx, m.lead())
	err = s.judgeMulti(m, err)
	if h := s.opts.hooks.Append; h != nil {
		d := time.Since(start)
		for _, r := range m.members {
			if len(r.events) > 0 {
				s.reportAppend(ctx, h, r.stream, r.events, d, err)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return m.results, nil
}

// AppendMultiWithOffsets is [Store.AppendMulti] that also commits the
// consumer offsets o in the same Kafka transaction: the events and the
// offsets become visible together, or neither does. At least one entry
// must have events. A member of o.Group that no longer owns the partitions
// is refused with an error wrapping [ErrGroupFenced] (nothing is written);
// an error wrapping [ErrUnknownOutcome] means that the events and the
// offsets were both written or both not: read the group's committed
// offsets (with require_stable) to learn which.
func (s *Store) AppendMultiWithOffsets(ctx context.Context, o ConsumerOffsets, appends ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	if o.Group == "" || o.Topic == "" || len(o.Offsets) == 0 {
		return nil, fmt.Errorf("%w: kafka: AppendMultiWithOffsets needs a group, a topic and at least one offset", eventstore.ErrInvalidArgument)
	}
	o.Offsets = maps.Clone(o.Offsets)
	return s.appendMulti(ctx, &o, appends)
}

// doubted reports whether an entry of m repeats an append whose outcome
// the store reported as unknown.
func (m *multiReq) doubted() bool {
	for _, r := range m.members {
		if r.doubt != nil {
			return true
		}
	}
	return false
}

// finishChecked finishes m as its version check decided (results, err)
// without writing. A repeat of an append that was written, with consumer
// offsets, first commits the offsets again, in a transaction of their own,
// before saying so. The earlier attempt's transaction held them too, but
// on a 3-node cluster whose group coordinator was killed while that
// transaction committed, its events were committed and its offsets were
// not (TestClusterProcessManagerFaults, 1 run in about 30): a process
// manager would then decide the batch again after its next restart.
// Committing the same offsets again is harmless when they are there (the
// member still owns the partitions, or the group refuses them with
// ErrGroupFenced).
func (w *worker) finishChecked(ctx context.Context, m *multiReq, results []eventstore.AppendResult, err error) {
	if err == nil && m.offsets != nil {
		w.recommitOffsets(ctx, m, results)
		return
	}
	m.finish(results, err)
}

// recommitOffsets commits m's consumer offsets in a transaction of their
// own for a repeat of m that found its events written (results), and
// finishes m: with results when the offsets are committed, with
// ErrGroupFenced when the group refused them, and otherwise with an
// unknown outcome (the events are written; whether the offsets are is not
// known), which the caller resolves by repeating again.
func (w *worker) recommitOffsets(ctx context.Context, m *multiReq, results []eventstore.AppendResult) {
	lead := m.lead()
	unknown := func(err error) {
		m.finish(nil, fmt.Errorf("%w: multi-stream append to streams %s: its events were written by an earlier attempt, and committing its consumer offsets again failed: %w",
			ErrUnknownOutcome, m.streams(), err))
	}
	if err := w.start(ctx, m.members); err != nil {
		unknown(err)
		return
	}
	if err := w.writePositions(ctx, m.offsets); err != nil {
		w.abort(err)
		unknown(err)
		return
	}
	if err := w.prod.commitOffsets(ctx, m.offsets); err != nil {
		w.abort(err)
		if ferr := m.fenced(err, " (its events were written by an earlier attempt)"); ferr != nil {
			m.finish(nil, ferr)
			return
		}
		unknown(err)
		return
	}
	if !lead.state.CompareAndSwap(stateClaimed, stateCommitting) {
		w.abort(nil) // the caller gave up
		return
	}
	if !w.commit(ctx, func(err error) {
		m.finish(nil, fmt.Errorf("multi-stream append to streams %s: its events were written by an earlier attempt; committing its consumer offsets again: %w", m.streams(), err))
	}) {
		return
	}
	if w.s.opts.tracer != nil {
		w.tracef("multi-stream append to %s: a repeat of a written append; its offsets committed again", m.streams())
	}
	m.finish(results, nil)
}

// positionRecords returns the position records of o (see
// ConsumerOffsets.PositionTopic), none if o asks for none. A topic that is
// missing or that the store may not describe is said so, with what to do
// (final); other errors (a broker away) may heal.
func (w *worker) positionRecords(o *ConsumerOffsets) (msgs []*sarama.ProducerMessage, final bool, err error) {
	if o.PositionTopic == "" {
		return nil, false, nil
	}
	// The store's read client: the worker's producer may be closed now
	// (after a fault) and is made again when the transaction starts.
	parts, err := w.s.read.Partitions(o.PositionTopic)
	if err == nil && len(parts) == 0 {
		err = sarama.ErrUnknownTopicOrPartition
	}
	switch {
	case err == nil:
	case kafkaauth.Fatal(err):
		return nil, true, kafkaauth.Wrap(err, w.s.cfg, "write the positions of group "+o.Group, "Write", kafkaauth.Topic, o.PositionTopic, false)
	case errors.Is(err, sarama.ErrUnknownTopicOrPartition):
		return nil, true, fmt.Errorf("kafka: the positions topic %s of group %s: %w (create it, or let the process committer create it)", o.PositionTopic, o.Group, err)
	default:
		return nil, false, fmt.Errorf("kafka: the partitions of the positions topic %s of group %s: %w", o.PositionTopic, o.Group, err)
	}
	n := int32(len(parts))
	now := time.Now()
	msgs = make([]*sarama.ProducerMessage, 0, len(o.Offsets))
	for p, next := range o.Offsets {
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic: o.PositionTopic, Partition: wire.PositionPartition(p, n), Timestamp: now,
			Key: sarama.ByteEncoder(wire.PositionKey(o.Group, o.Topic, p)), Value: sarama.ByteEncoder(wire.PositionValue(next)),
		})
	}
	return msgs, false, nil
}

// positionsRefused returns, when err (of a send) says that the broker
// refused o's position records for good (a missing ACL, a record too
// large), an error that says so; otherwise nil.
func positionsRefused(err error, o *ConsumerOffsets) error {
	var perrs sarama.ProducerErrors
	if o == nil || o.PositionTopic == "" || !errors.As(err, &perrs) {
		return nil
	}
	for _, pe := range perrs {
		if pe.Msg.Topic != o.PositionTopic || !permanent(pe.Err) {
			continue
		}
		if kafkaauth.Fatal(pe.Err) {
			return kafkaauth.Wrap(pe.Err, nil, "write the positions of group "+o.Group, "Write", kafkaauth.Topic, o.PositionTopic, false)
		}
		return fmt.Errorf("kafka: the broker refused the position records of group %s on %s: %w", o.Group, o.PositionTopic, pe.Err)
	}
	return nil
}

// writePositions writes the position records of o in the open
// transaction, if o asks for them.
func (w *worker) writePositions(ctx context.Context, o *ConsumerOffsets) error {
	msgs, _, err := w.positionRecords(o)
	if err != nil || len(msgs) == 0 {
		return err
	}
	if err := w.prod.send(ctx, msgs); err != nil {
		if e := positionsRefused(err, o); e != nil {
			return e
		}
		return fmt.Errorf("kafka: write the positions of group %s to %s: %w", o.Group, o.PositionTopic, err)
	}
	return nil
}

// judgeMulti is judge (unknown.go) for a multi-stream append: its entries
// were all written or none, so the fate of one earlier attempt is the
// fate of all.
func (s *Store) judgeMulti(m *multiReq, err error) error {
	var doubts []*doubt
	proven := false
	for _, r := range m.members {
		if r.doubt != nil {
			doubts = append(doubts, r.doubt)
		}
		proven = proven || r.proven.Load()
	}
	return s.judgeDoubts(m.members, doubts, proven, err, func() string {
		return "this multi-stream append to streams " + m.streams()
	})
}

// checkMulti checks every entry of m against the index. It is done when
// the append is decided without writing: a repeat of an append that was
// written (results), or a failure (err). stale is set when the failure may
// be due to an index behind the log (see mayBeStale).
func (w *worker) checkMulti(m *multiReq) (results []eventstore.AppendResult, done, stale bool, err error) {
	results = make([]eventstore.AppendResult, len(m.members))
	var conflicts []*eventstore.ConflictError
	var other error
	repeats, writes := 0, 0
	for i, r := range m.members {
		if len(r.events) > 0 {
			writes++
		}
		res, err, done := w.check(r)
		var ce *eventstore.ConflictError
		switch {
		case !done:
			results[i] = eventstore.AppendResult{Version: r.base}
		case err == nil:
			repeats++
			results[i] = res
		case errors.As(err, &ce):
			conflicts = append(conflicts, ce)
			results[i] = eventstore.AppendResult{Version: ce.Actual}
			stale = stale || mayBeStale(r, err)
		default:
			if other == nil {
				other = err
			}
			stale = stale || mayBeStale(r, err)
		}
	}
	switch {
	case other != nil:
		return nil, true, stale, other
	case repeats == writes:
		// Every entry's events are where an earlier attempt put them: a
		// repeat of an append that was written. (Its conditions held
		// then; they need not hold now.)
		return results, true, false, nil
	case repeats > 0 && m.doubted():
		// An earlier attempt of this very append (the same IDs on the
		// same streams) had an unknown outcome, and part of it is in
		// the index: it was committed (all or nothing), but the commit
		// markers of the other partitions are not read yet (their
		// leader is away, say). Its fate is known, its result is not
		// yet: the caller repeats it later, and then finds all of it.
		return nil, true, true, fmt.Errorf("%w: an earlier attempt of the multi-stream append to streams %s was written (%d of its %d entries with events are read back already), but the others cannot be read back yet; repeat it with the same event IDs later",
			ErrUnknownOutcome, m.streams(), repeats, writes)
	case repeats > 0:
		// Written all or nothing, so part of it can only be found by an
		// index that caught up with some partitions of its transaction
		// and not yet with others.
		return nil, true, true, fmt.Errorf("%w: %d of the %d entries with events of the multi-stream append to streams %s are already stored, the others are not, so it is not a repeat of one earlier append; use new IDs for new events",
			eventstore.ErrDuplicateEventID, repeats, writes, m.streams())
	case len(conflicts) > 0:
		return nil, true, stale, &eventstore.MultiConflictError{Conflicts: conflicts}
	}
	return nil, false, false, nil
}

// processMulti runs the multi-stream append m in a transaction of its own:
// the steps of process (process.go) with all-or-nothing outcomes. It
// returns m's lead when the append is to be tried again.
func (w *worker) processMulti(m *multiReq) []*appendReq {
	if m.lead().state.Load() == stateCancelled {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.s.opts.appendTimeout)
	defer cancel()
	t := &multiTxn{w: w, ctx: ctx, m: m}
	if !t.check() {
		return nil
	}
	pre, ok := t.write()
	if ok && t.scan(pre) && t.commit() {
		t.report()
	}
	return t.retry
}

// multiTxn is the transaction of one multi-stream append in processMulti:
// its context, and its lead when it is to be tried again.
type multiTxn struct {
	w     *worker
	ctx   context.Context
	m     *multiReq
	retry []*appendReq
}

// fail finishes the whole append with err.
func (t *multiTxn) fail(err error) { t.m.finish(nil, err) }

// again queues the append for another attempt, counting one against it,
// after a failure of the transaction (cause); an append that used its
// attempts fails with ErrUnavailable.
func (t *multiTxn) again(cause error) {
	m, lead := t.m, t.m.lead()
	if kafkaauth.Fatal(cause) {
		t.fail(cause)
		return
	}
	lead.attempts++
	if lead.attempts >= maxAttempts {
		t.fail(fmt.Errorf("%w: kafka: multi-stream append to streams %s gave up after %d attempts, nothing was written; retry later (last cause: %w)",
			eventstore.ErrUnavailable, m.streams(), lead.attempts, cause))
		return
	}
	if lead.state.CompareAndSwap(stateClaimed, stateQueued) {
		t.retry = []*appendReq{lead}
	}
}

// check is step 1: the version check, repeated after a catch-up when it
// failed (see groupTxn.check). It reports whether the append goes on to
// be written; otherwise it is finished.
func (t *multiTxn) check() bool {
	w, s, m := t.w, t.w.s, t.m
	parts := partsOf(m.members)
	if err := s.catchUpStale(t.ctx, parts); err != nil {
		t.fail(err)
		return false
	}
	results, done, mayStale, err := w.checkMulti(m)
	if done && err != nil {
		blocked := false
		var doubt bool
		for _, r := range m.members {
			blocked = blocked || s.idx[r.part].isBlocked()
			doubt = doubt || r.doubt != nil
		}
		if mayStale || !blocked {
			cerr := s.catchUpStall(t.ctx, parts, true, checkWait, true, nil)
			if recheckFails(t.ctx, cerr, doubt) {
				t.fail(unavailable("catch up the stream index for the version check", cerr))
				return false
			}
			results, done, _, err = w.checkMulti(m)
		}
	}
	if done {
		w.finishChecked(t.ctx, m, results, err)
		return false
	}
	return true
}

// write is step 2: it writes the entries' events in one transaction (see
// worker.write), with the consumer offsets when the append has them.
func (t *multiTxn) write() (pre <-chan map[int32]*partResult, ok bool) {
	w, m := t.w, t.m
	var positions []*sarama.ProducerMessage
	if m.offsets != nil {
		var err error
		var final bool
		if positions, final, err = w.positionRecords(m.offsets); err != nil {
			if final {
				t.fail(fmt.Errorf("multi-stream append to streams %s: %w", m.streams(), err))
			} else {
				t.again(err)
			}
			return nil, false
		}
	}
	pre, failed, err := w.write(t.ctx, m.members, positions...)
	if err != nil {
		for _, r := range m.members {
			if e := failed[r]; e != nil {
				t.fail(e)
				return nil, false
			}
		}
		if e := positionsRefused(err, m.offsets); e != nil {
			t.fail(fmt.Errorf("multi-stream append to streams %s: %w", m.streams(), e))
			return nil, false
		}
		t.again(err)
		return nil, false
	}
	if m.offsets != nil {
		if err := w.prod.commitOffsets(t.ctx, m.offsets); err != nil {
			<-pre
			w.abort(err)
			if ferr := m.fenced(err, ""); ferr != nil {
				t.fail(ferr)
				return nil, false
			}
			t.again(err)
			return nil, false
		}
	}
	return pre, true
}

// scan is step 3: the conflict scan of every entry; the conditions' scans
// stop at the high watermark read now, after the produce was acknowledged
// (see above). When it met records of the streams, or failed, the
// transaction is aborted and the append fails or is tried again.
func (t *multiTxn) scan(pre <-chan map[int32]*partResult) bool {
	w, s, m, lead := t.w, t.w.s, t.m, t.m.lead()
	conflicts, err := w.conflictScan(t.ctx, m.members, pre)
	if err != nil {
		s.markSuspect()
		w.abort(err)
		t.again(err)
		return false
	}
	if len(conflicts) == 0 {
		return true
	}
	if s.opts.tracer != nil {
		w.tracef("multi-stream append to %s: %d conflicts: abort", m.streams(), len(conflicts))
	}
	w.abort(nil)
	// Decide with the index, which the scan brought up to date: a
	// real conflict fails; records still undecided are waited for.
	if results, done, _, err := w.checkMulti(m); done {
		w.finishChecked(t.ctx, m, results, err)
		return false
	}
	allAny := true
	for _, r := range m.members {
		if conflicts[r] && r.expected != eventstore.Any {
			allAny = false
		}
	}
	if allAny {
		// Entries with Any conflict with nothing: as a single Any append
		// (groupTxn.scan), the append waits for the undecided records of
		// another writer without using up its attempts, until its append
		// timeout ends it with ErrUnavailable.
		lead.waits++
		lead.delay(lead.waits)
		if lead.state.CompareAndSwap(stateClaimed, stateQueued) {
			t.retry = []*appendReq{lead}
		}
		return false
	}
	if lead.attempts+1 >= maxAttempts {
		var ces []*eventstore.ConflictError
		for _, r := range m.members {
			if conflicts[r] {
				ces = append(ces, &eventstore.ConflictError{StreamID: r.stream, Expected: r.expected, Actual: -1})
			}
		}
		t.fail(&eventstore.MultiConflictError{Conflicts: ces})
		return false
	}
	lead.delay(lead.attempts)
	t.again(errors.New("a concurrent append conflicted"))
	return false
}

// commit is step 4: it commits the transaction, unless the caller gave
// up meanwhile.
func (t *multiTxn) commit() bool {
	if !t.m.lead().state.CompareAndSwap(stateClaimed, stateCommitting) {
		t.w.abort(nil)
		return false
	}
	return t.w.commit(t.ctx, func(err error) { t.fail(fmt.Errorf("multi-stream append to streams %s: %w", t.m.streams(), err)) })
}

// report is step 5: done (see groupTxn.report).
func (t *multiTxn) report() {
	t.m.finish(t.w.recordOwn(t.m.members), nil)
	t.w.cacheOwn(t.m.members)
}
