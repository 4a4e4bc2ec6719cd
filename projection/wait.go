package projection

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// ErrStopped means the runner is not running: [Runner.WaitFor] and
// [Runner.WaitForEnd] return an error matching it (and wrapping the error
// Run returned) when Run or CatchUp returns before the wait is over, so a
// caller sees why the projection stopped instead of a deadline.
var ErrStopped = errors.New("projection: the runner stopped")

// WaitFor blocks until the events at positions (as returned by an append
// in [eventstore.AppendResult.Positions], or by aggregate.Root.Appended
// after a save) have been processed, so a command handler can read its own
// writes from the view:
//
//	acc, err := repo.Update(ctx, id, cmd)
//	…
//	err = runner.WaitFor(ctx, acc.Appended().Positions...)
//
// With no positions it returns nil at once. It counts the runner's own
// progress and, with a [CheckpointStore], the stored checkpoint, or else,
// with a source that is a [CommittedReader] (the Kafka consumer-group
// source), the committed offsets. Other instances of the projection move
// those too, so WaitFor also returns for partitions this instance does not
// own (committed offsets trail the processing by the auto-commit
// interval). It returns ctx's error when ctx ends first, and an error
// matching [ErrStopped] with the runner's own error when Run returns first
// (a handler that failed for good, a lost connection).
func (r *Runner) WaitFor(ctx context.Context, positions ...eventstore.Position) error {
	if len(positions) == 0 {
		return nil
	}
	var want eventstore.Checkpoint
	for _, p := range positions {
		want = want.Advance(p)
	}
	what := "position " + positions[0].String()
	if len(positions) > 1 {
		what = fmt.Sprintf("%d positions (%s…%s)", len(positions), positions[0], positions[len(positions)-1])
	}
	return r.wait(ctx, what, func(context.Context) (eventstore.Checkpoint, error) { return want, nil }, false)
}

// WaitForEnd blocks until the runner has processed every partition of the
// log up to its end as it is when WaitForEnd is called: everything
// appended before the call is then in the view, whichever partition it is
// in. Use it where one write's positions are not known, for example in a
// second service whose fresh projection must catch up before it answers
// queries, or in tests. It may be called before Run: it then waits for Run
// (or CatchUp) to start and takes the end of the log at that moment, which
// includes everything appended before the call.
//
// Partitions this instance does not process count as done when the
// stored checkpoint or the committed offsets reached the end (see
// [Runner.WaitFor]), or when only offsets without events (Kafka
// transaction markers) are left before it. It returns ctx's error when ctx
// ends first, and an error matching [ErrStopped] when Run returns first.
func (r *Runner) WaitForEnd(ctx context.Context) error {
	var end eventstore.Checkpoint
	return r.wait(ctx, "the end of the log", func(ctx context.Context) (eventstore.Checkpoint, error) {
		if end != nil {
			return end, nil
		}
		r.mu.Lock()
		src := r.src
		r.mu.Unlock()
		e, err := src.End(ctx)
		if err != nil {
			return nil, err
		}
		end = e
		if end == nil {
			end = eventstore.Checkpoint{}
		}
		return end, nil
	}, true)
}

// wait blocks until the runner's progress (or the shared position) reaches
// the target. target is asked once; with needSrc only after the runner has
// a source, which it may use. needSrc also says that offsets below the
// target may hold no event (a log end).
func (r *Runner) wait(ctx context.Context, what string, target func(context.Context) (eventstore.Checkpoint, error), needSrc bool) error {
	var (
		want    eventstore.Checkpoint
		done    = map[int32]bool{} // partitions found complete through the shared position or a gap check
		tick    <-chan time.Time
		polled  Source // the source the ticker polls for
		retry   <-chan time.Time
		lastErr error // why the target could not be found yet
	)
	fail := func(err error) error { return fmt.Errorf("projection %q: wait for %s: %w", r.name, what, err) }
	for {
		r.mu.Lock()
		src, ch, stopped := r.src, r.changed, r.stopErr
		next := r.next.Clone()
		r.mu.Unlock()
		if want == nil && (src != nil || !needSrc) && retry == nil {
			w, err := target(ctx)
			switch {
			case err == nil:
				want, lastErr = w, nil
			case stopped != nil:
				return fail(fmt.Errorf("%w: %w (and the end of the log was not found: %v)", ErrStopped, stopped, err))
			default:
				// A source that has just started may not reach the
				// brokers yet: ask again, until ctx ends.
				lastErr = err
				retry = time.After(min(r.cfg.pollInt, 100*time.Millisecond))
			}
		}
		if want != nil {
			if r.reached(want, next, done) {
				return nil
			}
			if tick == nil || (polled == nil && src != nil) {
				if r.canPoll(src, needSrc) {
					if r.pollShared(ctx, src, want, next, done, needSrc) {
						return nil
					}
					if tick == nil {
						t := time.NewTicker(r.cfg.pollInt)
						defer t.Stop()
						tick = t.C
					}
					polled = src
				}
			}
			if stopped != nil {
				return fail(fmt.Errorf("%w: %w (progress %s)", ErrStopped, stopped, describe(next)))
			}
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fail(fmt.Errorf("find the end of the log: %w (%w)", lastErr, ctx.Err()))
			}
			if want == nil {
				return fail(fmt.Errorf("the runner was not started: %w", ctx.Err()))
			}
			return fail(fmt.Errorf("%w (progress %s)", ctx.Err(), describe(next)))
		case <-ch:
		case <-retry:
			retry = nil
		case <-tick:
			if r.pollShared(ctx, src, want, r.Position(), done, needSrc) {
				return nil
			}
		}
	}
}

// canPoll reports whether a shared position (or, with gaps, a gap check)
// can tell more than the runner's own progress.
func (r *Runner) canPoll(src Source, gaps bool) bool {
	if r.cfg.checkpoints != nil {
		return true
	}
	if _, ok := src.(CommittedReader); ok {
		return true
	}
	_, ok := src.(GapChecker)
	return gaps && ok
}

// reached reports whether next (or the partitions known done) covers want.
func (r *Runner) reached(want, next eventstore.Checkpoint, done map[int32]bool) bool {
	for p, o := range want {
		if o > 0 && next[p] < o && !done[p] {
			return false
		}
	}
	return true
}

// pollShared marks the partitions of want that the shared position (stored
// checkpoint or committed offsets) covers, or, with gaps, whose remaining
// offsets hold no event, and reports whether all of want is covered.
func (r *Runner) pollShared(ctx context.Context, src Source, want, next eventstore.Checkpoint, done map[int32]bool, gaps bool) bool {
	var shared eventstore.Checkpoint
	var err error
	cr, _ := src.(CommittedReader)
	switch {
	case r.cfg.checkpoints != nil:
		shared, err = r.cfg.checkpoints.Load(ctx, r.name)
	case cr != nil:
		shared, err = cr.Committed(ctx)
	}
	if err != nil {
		shared = nil // try again at the next tick
	}
	gc, _ := src.(GapChecker)
	for p, o := range want {
		from := max(next[p], shared[p])
		if done[p] || o <= 0 || from >= o {
			if from >= o {
				done[p] = true
			}
			continue
		}
		if gaps && gc != nil {
			if has, err := gc.HasEvents(ctx, p, from, o); err == nil && !has {
				done[p] = true
			}
		}
	}
	return r.reached(want, next, done)
}

// describe formats a checkpoint for messages: "0/12 1/7" (partition/next
// offset), at most 32 partitions.
func describe(cp eventstore.Checkpoint) string {
	if len(cp) == 0 {
		return "none"
	}
	ps := slices.Sorted(maps.Keys(cp))
	var b strings.Builder
	for i, p := range ps {
		if i == 32 {
			fmt.Fprintf(&b, " …(%d partitions)", len(ps))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d/%d", p, cp[p])
	}
	return b.String()
}

// Lag returns, for each partition of the running source, how many offsets
// the runner is behind the end of the log (0 when only offsets without
// events, such as Kafka transaction markers, are left). It fails when the
// runner has not been started.
func (r *Runner) Lag(ctx context.Context) (map[int32]int64, error) {
	r.mu.Lock()
	src := r.src
	r.mu.Unlock()
	if src == nil {
		return nil, fmt.Errorf("projection %q: lag: the runner has not been started; call Run first", r.name)
	}
	end, err := src.End(ctx)
	if err != nil {
		return nil, fmt.Errorf("projection %q: lag: %w", r.name, err)
	}
	next := r.Position()
	lag := make(map[int32]int64, len(end))
	gc, _ := src.(GapChecker)
	for p, e := range end {
		lag[p] = max(0, e-next[p])
		if lag[p] > 0 && gc != nil {
			has, err := gc.HasEvents(ctx, p, next[p], e)
			if err != nil {
				return nil, fmt.Errorf("projection %q: lag: %w", r.name, err)
			}
			if !has {
				lag[p] = 0
			}
		}
	}
	if h := r.cfg.hooks.Lag; h != nil {
		for p, l := range lag {
			h.ObserveLag(ctx, observe.Lag{Projection: r.name, Partition: p, Lag: l})
		}
	}
	return lag, nil
}
