package projection

import (
	"context"
	"errors"
	"fmt"
	"github.com/kafkaes/kafkaes/eventstore"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// Progress reports how far a catch-up (or rebuild) is.
type Progress struct {
	// Done is the number of offsets processed since the catch-up started.
	Done int64
	// Total is the number of offsets to process: from the checkpoint at
	// the start to the end of the log at the start.
	Total int64
	// Elapsed is the time since the catch-up started.
	Elapsed time.Duration
	// Rate is the average speed so far, in offsets per second.
	Rate float64
	// ETA estimates the time left at the average rate (0 when done or
	// unknown).
	ETA time.Duration
	// Finished is true in the last report, when the end was reached.
	Finished bool
}

// String formats the progress for logs: "1200/5000 (24.0%) 3000/s ETA 1.3s".
func (p Progress) String() string {
	pct := 100.0
	if p.Total > 0 {
		pct = 100 * float64(p.Done) / float64(p.Total)
	}
	return fmt.Sprintf("%d/%d (%.1f%%) %.0f/s ETA %s", p.Done, p.Total, pct, p.Rate, p.ETA.Round(100*time.Millisecond))
}

// CatchUp runs the projection until it has processed the log of src as far
// as it reached when CatchUp was called, then returns nil. It calls
// progress (if not nil) every progress interval ([WithProgressInterval])
// and once at the end with Finished set. Cancel ctx to abandon it; what was
// processed stays checkpointed, so a later Run or CatchUp continues.
//
// CatchUp waits for every partition of the log, so run it on one instance
// (with a consumer-group source, an instance that gets only some
// partitions never finishes).
//
// To rebuild a read model blue/green, create a runner with a new name that
// writes to new tables and call [Runner.Rebuild], which catches up and
// switches readers to the new tables only on success; then keep the new
// runner running with Run while the old one is stopped.
func (r *Runner) CatchUp(ctx context.Context, src Source, progress func(Progress)) (err error) {
	r.attach(src)
	defer func() { r.detach(err) }()
	if err := r.loadParked(ctx); err != nil {
		return err
	}
	end, err := src.End(ctx)
	if err != nil {
		return fmt.Errorf("projection %q: catch up: find the end of the log: %w", r.name, err)
	}
	if _, _, err := r.start(ctx, nil); err != nil {
		return err
	}
	startAt := time.Now()
	start := r.Position()
	var total int64
	for p, e := range end {
		total += max(0, e-start[p])
	}
	report := func(finished bool) {
		if progress == nil && r.cfg.hooks.Rebuild == nil {
			return
		}
		pos := r.Position()
		var done int64
		for p, e := range end {
			done += max(0, min(pos[p], e)-start[p])
		}
		el := time.Since(startAt)
		pr := Progress{Done: done, Total: total, Elapsed: el, Finished: finished}
		if s := el.Seconds(); s > 0 {
			pr.Rate = float64(done) / s
		}
		if pr.Rate > 0 && done < total {
			pr.ETA = time.Duration(float64(total-done) / pr.Rate * float64(time.Second))
		}
		if progress != nil {
			progress(pr)
		}
		if h := r.cfg.hooks.Rebuild; h != nil {
			h.ObserveRebuild(ctx, observe.Rebuild{Projection: r.name, Done: done, Total: total, Finished: finished})
		}
	}
	reached := func() (bool, <-chan struct{}) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for p, e := range end {
			if r.next[p] < e {
				return false, r.changed
			}
		}
		return true, nil
	}
	if ok, _ := reached(); ok {
		report(true)
		return nil
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- src.Run(cctx, sink{r}) }()
	tick := time.NewTicker(r.cfg.progressInt)
	defer tick.Stop()
	for {
		ok, ch := reached()
		if ok {
			cancel()
			<-errc
			report(true)
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
			report(false)
		case err := <-errc:
			if ok, _ := reached(); ok {
				report(true)
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil || errors.Is(err, context.Canceled) {
				err = errors.New("source stopped before the end")
			}
			return fmt.Errorf("projection %q: catch up: %w", r.name, err)
		}
	}
}

// sink is the runner's side of a Source: it is what Run and CatchUp hand
// to [Source.Run]. The runner keeps these methods off its own method set
// (a user of a Runner calls Run, CatchUp, WaitFor, Lag; only a source calls
// Start, Deliver and Reached, and "Start" on a runner reads like "start
// the runner"), so a custom Source gets them only through the Sink it is
// given.
type sink struct{ r *Runner }

var _ Sink = sink{}

// Start implements [Sink].
func (s sink) Start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, bool, error) {
	return s.r.start(ctx, partitions)
}

// Deliver implements [Sink].
func (s sink) Deliver(ctx context.Context, recs []Record) (int, error) { return s.r.deliver(ctx, recs) }

// Reached implements [Sink].
func (s sink) Reached(partition int32, next int64) { s.r.markRead(partition, next) }
