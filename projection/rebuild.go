package projection

import (
	"context"
	"errors"
	"fmt"
)

// Rebuild describes a blue/green rebuild of a read model: a runner that
// writes to a fresh view (new tables, a new index, a new map) while the
// current view keeps serving, and what to do when it has caught up or
// failed. Run it with [Runner.Rebuild].
type Rebuild struct {
	// Swap makes the fresh view the one readers use (rename tables in one
	// transaction, swap a pointer). It is called only after the fresh
	// view has processed the whole log as it was when the rebuild
	// started; the old view is untouched until then. Required.
	Swap func(ctx context.Context) error
	// Discard drops the fresh view after the rebuild failed or was
	// cancelled (drop the new tables). Optional: without it the partial
	// view stays, and a later rebuild with the same runner name continues
	// from its checkpoint.
	Discard func(ctx context.Context) error
	// Progress, when set, receives the catch-up's progress, as for
	// [Runner.CatchUp].
	Progress func(Progress)
}

// ErrRebuildNotSwapped matches the error of a [Runner.Rebuild] that did not
// swap: the catch-up failed or was cancelled, or Swap itself failed. The
// current view is then still the one readers use.
var ErrRebuildNotSwapped = errors.New("projection: rebuild not swapped; the current view still serves")

// Rebuild catches r up over src into the fresh view it writes to (see
// [Runner.CatchUp]: up to the end of the log as it was at the call, with
// progress) and then calls b.Swap, so that readers move to the new view
// only once it is complete. If the catch-up fails or ctx ends first, or
// Swap fails, it calls b.Discard (when set, with a context that is not
// cancelled, so that the clean-up runs after a cancellation too) and
// returns an error matching [ErrRebuildNotSwapped] and wrapping the cause.
// After a successful Rebuild keep r running with [Runner.Run] (it then
// follows the log from where the rebuild ended) and stop the old runner.
func (r *Runner) Rebuild(ctx context.Context, src Source, b Rebuild) error {
	if b.Swap == nil {
		return fmt.Errorf("projection %q: rebuild: Rebuild.Swap is nil; say how readers move to the fresh view", r.name)
	}
	fail := func(what string, err error) error {
		err = fmt.Errorf("%w: projection %q: %s: %w", ErrRebuildNotSwapped, r.name, what, err)
		if b.Discard != nil {
			if derr := b.Discard(context.WithoutCancel(ctx)); derr != nil {
				err = fmt.Errorf("%w; discarding the fresh view failed too: %w", err, derr)
			}
		}
		return err
	}
	if err := r.CatchUp(ctx, src, b.Progress); err != nil {
		return fail("catch up", err)
	}
	if err := ctx.Err(); err != nil {
		return fail("before the swap", err)
	}
	if err := b.Swap(ctx); err != nil {
		return fail("swap", err)
	}
	return nil
}
