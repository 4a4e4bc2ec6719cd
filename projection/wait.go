package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// WaitFor blocks until the event at pos (as returned by an append in
// [eventstore.AppendResult.Positions]) has been processed, so a command
// handler can read its own writes from the view. It counts the runner's own
// progress and, with a [CheckpointStore], the stored checkpoint, or else,
// with a source that is a [CommittedReader] (the Kafka consumer-group
// source), the committed offsets. Other instances of the projection move
// those too, so WaitFor also returns for partitions this instance does not
// own (committed offsets trail the processing by the auto-commit
// interval). It returns ctx's error when ctx ends first.
func (r *Runner) WaitFor(ctx context.Context, pos eventstore.Position) error {
	r.mu.Lock()
	cr, _ := r.src.(CommittedReader)
	r.mu.Unlock()
	shared := func() bool { // the position all instances share
		var cp eventstore.Checkpoint
		var err error
		switch {
		case r.cfg.checkpoints != nil:
			cp, err = r.cfg.checkpoints.Load(ctx, r.name)
		case cr != nil:
			cp, err = cr.Committed(ctx)
		default:
			return false
		}
		return err == nil && cp.Includes(pos)
	}
	var tick <-chan time.Time
	for first := true; ; first = false {
		r.mu.Lock()
		done, ch := r.next.Includes(pos), r.changed
		r.mu.Unlock()
		if done {
			return nil
		}
		if first && (r.cfg.checkpoints != nil || cr != nil) {
			if shared() {
				return nil
			}
			t := time.NewTicker(r.cfg.pollInt)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("projection %q: wait for position %s: %w", r.name, pos, ctx.Err())
		case <-ch:
		case <-tick:
			if shared() {
				return nil
			}
		}
	}
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
