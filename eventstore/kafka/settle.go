package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// Settling hanging records of the worker's own producer.
//
// A transaction coordinator that restarts skips the markers of partitions
// whose leader it does not know yet (see the package documentation). The
// records of such a transaction stay undecided until the same producer ID
// writes its next marker to the partition, and that marker decides them.
// The conflict scan never commits over undecided records of its own
// producer that are not acknowledged (it aborts instead), but it cannot
// tell an acknowledged commit whose markers were skipped, and an abort
// would then drop acknowledged events. So after any error that may come
// from a broker going away (and when a producer is created), a worker is
// suspect (Store.suspect counts such errors, store-wide): before its next
// transaction writes data it reads the
// partitions it is about to write, and every partition (of any topic) its
// producers wrote to before (worker.wrote), from the index's catch-up
// offset (the last stable offset for another topic) to the high watermark, and if its producer ID has records there that no marker
// of it follows, it writes the marker they need first, with an empty
// transaction (AddPartitionsToTxn and EndTxn, no data): a commit marker
// when they are the worker's last acknowledged commit in the partition, an
// abort marker otherwise.

// settleAction is what the hanging records of a partition need.
type settleAction int

const (
	settleNothing settleAction = iota
	settleCommit
	settleAbort
)

// hangingOutcome decides what the records of producer pid in recs (data
// records and markers, in offset order) need: nothing when the last marker
// of pid follows its last data record; otherwise a commit marker when all
// its undecided records lie within acked (the offsets of the worker's last
// acknowledged commit in the partition), an abort marker when none do.
// mixed is set when both kinds are undecided together, which one marker
// cannot settle correctly.
func hangingOutcome(recs []record, pid int64, acked [2]int64) (act settleAction, mixed bool) {
	var inAcked, outside bool
	for _, r := range recs {
		if r.producerID != pid {
			continue
		}
		if r.control {
			inAcked, outside = false, false
			continue
		}
		if !r.txn {
			continue
		}
		if r.offset >= acked[0] && r.offset <= acked[1] {
			inAcked = true
		} else {
			outside = true
		}
	}
	switch {
	case inAcked && outside:
		return settleAbort, true
	case inAcked:
		return settleCommit, false
	case outside:
		return settleAbort, false
	}
	return settleNothing, false
}

// idleSettleEvery is how often an idle worker looks whether it is
// suspect (see settleIdle).
const idleSettleEvery = 500 * time.Millisecond

// settleIdle is the settle check of a worker that has no appends to
// write: when the store became suspect since the worker last checked,
// it settles every partition the worker wrote to. Without it, records of
// an acknowledged commit whose markers a restarted coordinator skipped
// would hold their partition's last stable offset, and every
// read_committed reader of the partition (projections, other stores'
// catch-ups) would wait, until the store's next append; with it they
// wait at most about idleSettleEvery once the store noticed the error. A
// failed check leaves the worker suspect, and the next tick tries again;
// a Close stops it.
func (w *worker) settleIdle() {
	s := w.s
	if w.openParts == nil && (s.suspect.Load() == w.checked || len(w.wrote) == 0) {
		return
	}
	ctx, cancel := s.endOnClose(context.Background(), s.opts.appendTimeout)
	defer cancel()
	err := w.settleIfSuspect(ctx, nil)
	if s.opts.tracer != nil {
		w.tracef("idle settle check: %v", err)
	}
}

// settleIfSuspect runs the settle check when the store became suspect
// since the worker's last one: for the partitions parts (those of the
// next transaction, if any) and every partition (of the events topic and
// of any other, such as a positions topic) the worker wrote to, not only
// those of its next transaction: after a coordinator restart an
// acknowledged commit may lack its markers in a partition the next
// transaction does not write, and a later transaction that writes there
// and fails would have to abort both. With a new producer (settleAll),
// every partition of the events topic too.
func (w *worker) settleIfSuspect(ctx context.Context, parts []topicPart) error {
	s := w.s
	if w.openParts != nil {
		// A transaction left open by a failed check (settleOpen) is
		// ended first; the check runs on (the store is suspect anyway).
		if w.prod == nil || !w.prod.inTxn {
			w.openParts = nil // the producer was replaced: its InitProducerId ended it
		} else if err := w.settleOpen(ctx, w.openParts); err != nil {
			return err
		}
	}
	gen := s.suspect.Load()
	if gen == w.checked {
		return nil
	}
	for tp := range w.wrote {
		parts = append(parts, tp)
	}
	if w.settleAll {
		parts = append(parts, s.eventParts(allParts(s.nparts))...)
	}
	if err := w.settle(ctx, parts); err != nil {
		return err
	}
	w.checked, w.settleAll = gen, false
	return nil
}

// settle runs the settle check for the partitions parts (see above) and
// writes the markers the worker's hanging records need. It returns an
// error when it could not check or settle; the worker stays suspect then.
func (w *worker) settle(ctx context.Context, parts []topicPart) error {
	parts = sortedParts(parts)
	// A marker may be skipped again (the leader is still unknown to the
	// coordinator): check again after settling.
	for range 3 {
		done, err := w.settleOnce(ctx, parts)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("kafka: records of transactional producer %q in %s are still without their transaction marker after settling them three times", w.id, w.s.topic)
}

// settleOnce checks parts once and writes the markers needed; done
// reports that nothing needed settling.
func (w *worker) settleOnce(ctx context.Context, parts []topicPart) (done bool, err error) {
	s := w.s
	if err := w.ensureProducer(); err != nil {
		return false, err
	}
	commit, abort, err := w.hanging(ctx, parts)
	if err != nil {
		return false, err
	}
	if len(commit) == 0 && len(abort) == 0 {
		return true, nil
	}
	for _, set := range []struct {
		parts  []topicPart
		commit bool
	}{{commit, true}, {abort, false}} {
		if len(set.parts) == 0 {
			continue
		}
		s.opts.logger.Warn("kafkaes: settling records that Kafka left without a transaction marker", "topic", s.topic, "partitions", set.parts, "commit", set.commit, "transactional_id", w.id)
		if w.s.opts.tracer != nil {
			w.tracef("settle %v commit=%v", set.parts, set.commit)
		}
		if err := w.prod.begin(ctx); err != nil {
			return false, err
		}
		if set.commit {
			if err := w.commitSettle(ctx, set.parts); err != nil {
				return false, err
			}
			continue
		}
		if err := w.prod.addTopicPartitions(ctx, set.parts); err != nil {
			w.recover(err)
			return false, err
		}
		if err := w.prod.end(ctx, false); err != nil {
			w.closeProducer()
			return false, err
		}
	}
	return false, nil
}

// settleEnded logs that the coordinator ended a settling transaction of
// parts before its commit arrived (errSettleEnded).
func (w *worker) settleEnded(parts []topicPart, err error) {
	w.s.opts.logger.Error("kafkaes: a settling transaction was ended by the coordinator before its commit arrived; acknowledged appends whose markers Kafka skipped may be lost", "topic", w.s.topic, "partitions", parts, "transactional_id", w.id, "error", err)
}

// commitSettle writes commit markers to parts, where the worker's last
// acknowledged commit lacks them, with the transaction begun for it. Once
// the partitions may be in the transaction, it must end with a commit
// whatever happens: its abort marker would abort the acknowledged records
// too. So a failed AddPartitionsToTxn still gets the commit (the
// partitions may have been added), and a commit whose outcome is unknown
// is sent again, with the same producer epoch, until it is answered; a
// producer left with the commit pending commits it before it takes a new
// epoch (txnProducer.pendingCommit), even across a replacement
// (worker.pending). Only the coordinator's own abort (after the
// transaction timeout) can still lose the records; that is logged as an
// error.
func (w *worker) commitSettle(ctx context.Context, parts []topicPart) error {
	aerr := w.prod.addTopicPartitions(ctx, parts)
	if err := w.endSettle(ctx, parts); err != nil {
		return err
	}
	return aerr
}

// endSettle commits the open settling transaction, which settles parts
// (txnProducer.commitSettle), and logs when the coordinator had ended it.
func (w *worker) endSettle(ctx context.Context, parts []topicPart) error {
	err := w.prod.commitSettle(ctx)
	if errors.Is(err, errSettleEnded) {
		w.settleEnded(parts, err)
	}
	return err
}

// settleOpen ends the open transaction, which holds no records yet (send
// returned errRecheck), with the marker that the worker's records left
// without markers in parts need: commit when its last acknowledged commit
// there lacks its markers, abort otherwise (an abort of a transaction
// without records changes nothing else).
//
// When the check fails, the transaction stays open, neither committed
// nor aborted blindly (its partitions may hold an acknowledged commit
// whose markers were skipped, which an abort would drop, or records of a
// failed transaction, which a commit would make visible): the worker's
// next step (an append, or the idle tick) checks again and ends it
// (openParts) before anything else uses the producer. Only the
// coordinator's abort after the transaction timeout ends it otherwise.
func (w *worker) settleOpen(ctx context.Context, parts []topicPart) error {
	commit, abort, err := w.hanging(ctx, sortedParts(parts))
	if err != nil {
		w.openParts = parts
		if w.s.opts.tracer != nil {
			w.tracef("settle open transaction: check failed, the transaction stays open: %v", err)
		}
		return err
	}
	w.openParts = nil
	outcome := len(commit) > 0 && len(abort) == 0
	if len(commit) > 0 || len(abort) > 0 {
		w.s.opts.logger.Warn("kafkaes: settling records that Kafka left without a transaction marker", "topic", w.s.topic, "commit_partitions", commit, "abort_partitions", abort, "transactional_id", w.id)
		if w.s.opts.tracer != nil {
			w.tracef("settle open transaction: commit %v abort %v: commit=%v", commit, abort, outcome)
		}
	}
	if outcome {
		// As in commitSettle: this commit must not turn into an abort.
		return w.endSettle(ctx, commit)
	}
	if err := w.prod.end(ctx, outcome); err != nil {
		w.closeProducer()
		return err
	}
	return nil
}

// hanging reads parts from where undecided records of the worker's
// producer may start to the high watermark and returns the partitions
// whose records of the worker's producer ID need a commit marker, and
// those that need an abort marker (see hangingOutcome). A partition of the
// events topic is read from the index's catch-up offset, one of another
// topic (a positions topic) from its last stable offset, either from the
// worker's last commit there if that is earlier.
func (w *worker) hanging(ctx context.Context, parts []topicPart) (commit, abort []topicPart, err error) {
	s := w.s
	pid := w.prod.pid
	byTopic := map[string][]int32{}
	for _, tp := range parts {
		byTopic[tp.topic] = append(byTopic[tp.topic], tp.part)
	}
	recs := map[topicPart][]record{}
	for topic, tparts := range byTopic {
		f := s.f
		pending := map[int32]int64{}
		if topic != s.topic {
			f = &fetcher{client: s.read, topic: topic, onError: s.markSuspect}
			lso, err := retry(ctx, func() (map[int32]int64, error) {
				return f.listOffsets(ctx, tparts, sarama.OffsetNewest, sarama.ReadCommitted)
			})
			if err != nil {
				return nil, nil, fmt.Errorf("kafka: check %s for records left without a transaction marker: %w", topic, err)
			}
			for _, p := range tparts {
				pending[p] = lso[p]
			}
		} else {
			for _, p := range tparts {
				pending[p] = s.idx[p].nextOffset()
			}
		}
		for _, p := range tparts {
			// The catch-up offset may have moved past the records of our
			// last commit (the index counted them when the commit
			// returned).
			if c := w.lastCommit(topicPart{topic, p}); c[0] >= 0 && c[0] < pending[p] {
				pending[p] = c[0]
			}
		}
		target := map[int32]int64{}
		for len(pending) > 0 {
			res, err := retry(ctx, func() (map[int32]*partResult, error) {
				return f.fetch(ctx, pending, sarama.ReadUncommitted, 0, fetchMaxBytes)
			})
			if err != nil {
				return nil, nil, fmt.Errorf("kafka: check %s for records left without a transaction marker: %w", topic, err)
			}
			for p, pr := range res {
				if _, ok := target[p]; !ok {
					target[p] = pr.hw
				}
				for _, r := range pr.recs {
					if r.producerID == pid && r.offset < target[p] {
						recs[topicPart{topic, p}] = append(recs[topicPart{topic, p}], r)
					}
				}
				if pr.next >= target[p] || pr.next <= pending[p] {
					delete(pending, p) // reached the high watermark (or nothing more to read)
				} else {
					pending[p] = pr.next
				}
			}
		}
	}
	for _, tp := range parts {
		act, mixed := hangingOutcome(recs[tp], pid, w.lastCommit(tp))
		if mixed {
			s.opts.logger.Error("kafkaes: records of an acknowledged and of a failed transaction are both without their marker; aborting both", "topic", tp.topic, "partition", tp.part, "transactional_id", w.id)
		}
		switch act {
		case settleCommit:
			commit = append(commit, tp)
		case settleAbort:
			abort = append(abort, tp)
		}
	}
	return commit, abort, nil
}

// lastCommit returns the offsets [first, last] of the worker's last
// acknowledged commit in partition tp ({-1, -1} when none is known).
func (w *worker) lastCommit(tp topicPart) [2]int64 {
	if r, ok := w.committed[tp]; ok {
		return r
	}
	return [2]int64{-1, -1}
}

// eventParts returns the partitions parts of the events topic.
func (s *Store) eventParts(parts []int32) []topicPart {
	out := make([]topicPart, len(parts))
	for i, p := range parts {
		out[i] = topicPart{s.topic, p}
	}
	return out
}

// allParts returns the partitions 0..n-1.
func allParts(n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// sortedParts returns parts sorted by topic and partition, without
// duplicates.
func sortedParts(parts []topicPart) []topicPart {
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b topicPart) int {
		if c := cmp.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return cmp.Compare(a.part, b.part)
	})
	return slices.Compact(parts)
}
