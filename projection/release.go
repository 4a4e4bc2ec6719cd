package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// ReleaseAction is what an operator decided about a stream parked by dead
// letters.
type ReleaseAction string

const (
	// Retry delivers the stream's dead letters to the handlers again, in
	// version order, then un-parks the stream, so its later events flow
	// again. If a letter fails again the stream stays parked with all its
	// letters, and the failure is recorded with the release.
	Retry ReleaseAction = "retry"
	// Drop gives the stream's dead letters up (they are never handled; the
	// sink records who dropped them) and un-parks the stream.
	Drop ReleaseAction = "drop"
)

// Release is an operator's decision about a parked stream of a
// projection, with the dead letters it covers.
type Release struct {
	// Projection and Stream name the parked stream.
	Projection, Stream string
	// Action is what to do with its letters.
	Action ReleaseAction
	// By is who asked for it, Time when.
	By   string
	Time time.Time
	// ID identifies the release in its sink (for Kafka, the partition and
	// offset of its record in the dead-letter topic).
	ID string
	// Letters are the stream's dead letters not released before, in
	// version order: all of them, also those parked after the release
	// was asked for.
	Letters []Letter
}

// Releaser is implemented by dead-letter sinks whose parked streams an
// operator can release (kafkaprojection.DLQ and [MemoryDeadLetters]; the
// kafkaes command's `dlq retry` and `dlq drop` write the releases). A
// runner acts on the releases of the partitions it reads: when a source
// starts a partition, and on the partition's deliveries at most every 5
// seconds ([WithReleaseCheck]), before the records of the delivery, so
// that no event of the stream overtakes its letters. A release of a stream
// whose partition receives no events waits for the next event there or
// the next start.
type Releaser interface {
	// Pending returns the releases of the named projection not yet acted
	// upon, oldest first.
	Pending(ctx context.Context, projection string) ([]Release, error)
	// Acted records that the runner acted on rel: a nil err means its
	// letters are done (handled again, or dropped) and the stream is no
	// longer parked (Parked no longer returns it); otherwise the stream
	// stays parked with its letters and err says why.
	Acted(ctx context.Context, rel Release, err error) error
}

// WithReleaseCheck sets how often a runner whose dead-letter sink is a
// [Releaser] asks it for releases on a partition's deliveries (it always
// asks when a partition starts). The default is 5 seconds; 0 asks on
// every delivery.
func WithReleaseCheck(d time.Duration) Option { return func(c *config) { c.releaseCheck = d } }

// actOnReleases acts on the pending releases of streams of partitions
// parts (nil: every partition) when force is set or the last check is
// older than the release-check interval. It returns an error only when
// the sink fails; a retry whose letters fail again is recorded with the
// release and leaves the stream parked.
func (r *Runner) actOnReleases(ctx context.Context, parts []int32, force bool) error {
	rel, ok := r.cfg.dlq.(Releaser)
	if !ok || r.cfg.action != DeadLetter {
		return nil
	}
	// Each partition keeps its own pace, so a busy partition's checks do
	// not use up another one's.
	r.mu.Lock()
	due := force
	if !due {
		for _, p := range parts {
			if time.Since(r.releasesAt[p]) >= r.cfg.releaseCheck {
				due = true
			}
		}
	}
	if due {
		if r.releasesAt == nil {
			r.releasesAt = map[int32]time.Time{}
		}
		for _, p := range parts {
			r.releasesAt[p] = time.Now()
		}
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	pending, err := rel.Pending(ctx, r.name)
	if err != nil {
		return fmt.Errorf("projection %q: read releases of parked streams: %w", r.name, err)
	}
	for _, rl := range pending {
		if len(rl.Letters) == 0 {
			if err := rel.Acted(ctx, rl, nil); err != nil {
				return fmt.Errorf("projection %q: record release of stream %q: %w", r.name, rl.Stream, err)
			}
			continue
		}
		p := rl.Letters[0].Record.Event.Position.Partition
		if parts != nil && !slices.Contains(parts, p) {
			continue // another partition's: its reader acts on it
		}
		actErr := r.release(ctx, rl, p)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := rel.Acted(ctx, rl, actErr); err != nil {
			return fmt.Errorf("projection %q: record release of stream %q: %w", r.name, rl.Stream, err)
		}
		if actErr != nil {
			r.cfg.logger.WarnContext(ctx, "projection: retry of a parked stream failed; it stays parked",
				slog.String("projection", r.name), slog.String("stream", rl.Stream), slog.String("by", rl.By), slog.Any("error", actErr))
			continue
		}
		r.mu.Lock()
		delete(r.parked, rl.Stream)
		r.mu.Unlock()
		r.cfg.logger.InfoContext(ctx, "projection: parked stream released",
			slog.String("projection", r.name), slog.String("stream", rl.Stream), slog.String("action", string(rl.Action)),
			slog.String("by", rl.By), slog.Int("letters", len(rl.Letters)))
	}
	return nil
}

// release carries out rl on partition p: Drop does nothing more; Retry
// runs the letters' events through the handlers in order (in one
// transaction of the checkpoint store, which does not move the
// checkpoint, so the letters' effects are all or nothing).
func (r *Runner) release(ctx context.Context, rl Release, p int32) error {
	switch rl.Action {
	case Drop:
		return nil
	case Retry:
	default:
		return fmt.Errorf("unknown release action %q (want retry or drop)", rl.Action)
	}
	letters := slices.Clone(rl.Letters)
	slices.SortStableFunc(letters, func(a, b Letter) int {
		return int(a.Record.Event.Version - b.Record.Event.Version)
	})
	for _, l := range letters {
		if l.Record.DecodeErr != nil {
			return fmt.Errorf("version %d cannot be decoded: %w", l.Record.Event.Version, l.Record.DecodeErr)
		}
	}
	if r.cfg.checkpoints == nil {
		for i := range letters {
			if _, err := r.retry(ctx, func() error { return r.apply(ctx, &letters[i].Record) }); err != nil {
				return fmt.Errorf("version %d: %w", letters[i].Record.Event.Version, unwrapPermanent(err))
			}
		}
		return nil
	}
	_, err := r.retry(ctx, func() error {
		// The transaction commits the checkpoint where it is stored (not
		// where the runner has read to: sources move that past markers
		// without a commit), so a concurrent move still fails it.
		cp, err := r.cfg.checkpoints.Load(ctx, r.name)
		if err != nil {
			return err
		}
		tctx, tx, err := r.cfg.checkpoints.Begin(ctx, r.name, p)
		if err != nil {
			return err
		}
		for i := range letters {
			if err := r.apply(tctx, &letters[i].Record); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("version %d: %w", letters[i].Record.Event.Version, err)
			}
		}
		if err := tx.Commit(ctx, p, cp[p], cp[p]); err != nil {
			_ = tx.Rollback()
			return err
		}
		return nil
	})
	return unwrapPermanent(err)
}

// unwrapPermanent returns the error Permanent wrapped, or err.
func unwrapPermanent(err error) error {
	var perm permanentError
	if errors.As(err, &perm) {
		return perm.error
	}
	return err
}
