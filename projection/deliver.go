package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

// deliver is [Sink.Deliver] of the runner's sink: it processes records of one partition in
// order and returns how many are done. Without a CheckpointStore each
// record is handled (with retries and the failure policy) on its own; with
// one, the records are handled in one transaction that also moves the
// checkpoint, and, if a handler fails, again one by one, each in its own
// transaction, so that the failure policy applies to the failing event
// alone.
func (r *Runner) deliver(ctx context.Context, recs []Record) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	if err := r.loadParked(ctx); err != nil {
		return 0, err
	}
	if err := r.actOnReleases(ctx, []int32{recs[0].Event.Position.Partition}, false); err != nil {
		return 0, err
	}
	if r.cfg.checkpoints == nil {
		for i := range recs {
			if err := r.handleOne(ctx, &recs[i]); err != nil {
				if i > 0 {
					r.advanceBatch(recs[i-1].Event.Position, i)
				}
				return i, err
			}
		}
		r.advanceBatch(recs[len(recs)-1].Event.Position, len(recs))
		return len(recs), nil
	}
	if len(recs) > 1 && r.clean(recs) {
		ok, err := r.tryBatch(ctx, recs)
		if err != nil {
			return 0, err
		}
		if ok {
			return len(recs), nil
		}
	}
	for i := range recs {
		if err := r.handleOneTx(ctx, &recs[i]); err != nil {
			return i, err
		}
	}
	return len(recs), nil
}

// clean reports whether no record of the batch needs the failure path.
func (r *Runner) clean(recs []Record) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range recs {
		if recs[i].DecodeErr != nil || r.parkedLocked(&recs[i].Event) {
			return false
		}
	}
	return true
}

// retry runs fn with the retry policy and returns the attempts made and
// the last error.
func (r *Runner) retry(ctx context.Context, fn func() error) (int, error) {
	for n := 0; ; n++ {
		err := fn()
		if err == nil {
			return n + 1, nil
		}
		if ctx.Err() != nil {
			return n + 1, ctx.Err()
		}
		var perm permanentError
		if errors.As(err, &perm) || n+1 >= r.cfg.attempts {
			return n + 1, err
		}
		if err := ctxtime.Sleep(ctx, backoff(n, r.cfg.base, r.cfg.max)); err != nil {
			return n + 1, err
		}
	}
}

// handleOne handles one record without a checkpoint transaction.
func (r *Runner) handleOne(ctx context.Context, rec *Record) error {
	cause, attempts := r.precheck(rec), 0
	if cause == nil {
		var err error
		attempts, err = r.retry(ctx, func() error { return r.apply(ctx, rec) })
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cause = err
	}
	return r.fail(ctx, rec, cause, attempts)
}

// precheck returns why rec cannot be handled at all: it belongs to a
// parked stream or could not be decoded.
func (r *Runner) precheck(rec *Record) error {
	if r.cfg.action == DeadLetter && r.isParked(&rec.Event) {
		return ErrParked
	}
	if rec.DecodeErr != nil {
		return Permanent(rec.DecodeErr)
	}
	return nil
}

// fail applies the failure action to rec. It returns nil when the runner
// may go on.
func (r *Runner) fail(ctx context.Context, rec *Record, cause error, attempts int) error {
	m := metaOf(&rec.Event)
	cause = unwrapPermanent(cause)
	action := r.cfg.action
	if errors.Is(cause, ErrParked) {
		action = DeadLetter
	}
	switch action {
	case Skip:
		r.skipped.Add(1)
		r.observeFailure(ctx, rec, "skip", cause)
		r.cfg.logger.WarnContext(ctx, "projection: skipping event after handler failure",
			slog.String("projection", r.name), slog.String("stream", m.StreamID), slog.Int64("version", m.Version),
			slog.String("position", m.Position.String()), slog.String("type", m.Type), slog.Int("attempts", attempts), slog.Any("error", cause))
		return nil
	case DeadLetter:
		l := Letter{Projection: r.name, Record: *rec, Err: cause, Attempts: attempts, Time: time.Now().UTC()}
		if err := r.cfg.dlq.Send(ctx, l); err != nil {
			return fmt.Errorf("projection %q: dead-letter event at %s (stream %q version %d): %w", r.name, m.Position, m.StreamID, m.Version, err)
		}
		r.mu.Lock()
		r.park(m.StreamID, m.Version)
		r.mu.Unlock()
		r.deadLettered.Add(1)
		r.observeFailure(ctx, rec, "dead_letter", cause)
		r.cfg.logger.WarnContext(ctx, "projection: event dead-lettered",
			slog.String("projection", r.name), slog.String("stream", m.StreamID), slog.Int64("version", m.Version),
			slog.String("position", m.Position.String()), slog.String("type", m.Type), slog.Any("error", cause))
		return nil
	default:
		return &HandlerError{Projection: r.name, Meta: m, Attempts: attempts, Err: cause}
	}
}

// tryBatch handles recs in one transaction. ok=false means a handler
// failed and the transaction was rolled back.
func (r *Runner) tryBatch(ctx context.Context, recs []Record) (ok bool, err error) {
	tctx, tx, err := r.cfg.checkpoints.Begin(ctx, r.name, recs[0].Event.Position.Partition)
	if err != nil {
		return false, fmt.Errorf("projection %q: begin transaction: %w", r.name, err)
	}
	for i := range recs {
		if err := r.apply(tctx, &recs[i]); err != nil {
			_ = tx.Rollback()
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, nil
		}
	}
	last := recs[len(recs)-1].Event.Position
	if err := r.commit(ctx, tx, last.Partition, last.Offset+1); err != nil {
		return false, err
	}
	r.advanceBatch(last, len(recs))
	return true, nil
}

// handleOneTx handles one record in its own transaction (with retries),
// and on failure applies the failure action and moves the checkpoint past
// it in a transaction of its own.
func (r *Runner) handleOneTx(ctx context.Context, rec *Record) error {
	p := rec.Event.Position
	cause, attempts := r.precheck(rec), 0
	if cause == nil {
		var infra error
		attempts, cause = r.retry(ctx, func() error {
			tctx, tx, err := r.cfg.checkpoints.Begin(ctx, r.name, p.Partition)
			if err != nil {
				return err
			}
			if err := r.apply(tctx, rec); err != nil {
				_ = tx.Rollback()
				return err
			}
			infra = r.commit(ctx, tx, p.Partition, p.Offset+1)
			return nil
		})
		if infra != nil {
			return infra
		}
		if cause == nil {
			r.advance(p)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := r.fail(ctx, rec, cause, attempts); err != nil {
		return err
	}
	_, tx, err := r.cfg.checkpoints.Begin(ctx, r.name, p.Partition)
	if err != nil {
		return fmt.Errorf("projection %q: begin transaction: %w", r.name, err)
	}
	if err := r.commit(ctx, tx, p.Partition, p.Offset+1); err != nil {
		return err
	}
	r.advance(p)
	return nil
}

// commit commits tx, moving the stored checkpoint of partition from where
// this runner last loaded or committed it to next. That is not the
// runner's read position: a source moves that past offsets it delivers
// nothing for (markers, aborted and filtered records) without a commit, so
// a commit after such a gap moves the stored checkpoint over it.
func (r *Runner) commit(ctx context.Context, tx Txn, partition int32, next int64) error {
	r.mu.Lock()
	from := r.stored[partition]
	r.mu.Unlock()
	if err := tx.Commit(ctx, partition, from, next); err != nil {
		_ = tx.Rollback()
		if errors.Is(err, ErrCheckpointMoved) {
			if _, _, lerr := r.start(ctx, []int32{partition}); lerr != nil {
				return errors.Join(err, lerr)
			}
		}
		return fmt.Errorf("projection %q: commit checkpoint %d of partition %d: %w", r.name, next, partition, err)
	}
	r.mu.Lock()
	r.stored[partition] = next
	r.mu.Unlock()
	return nil
}
