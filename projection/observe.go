package projection

import (
	"context"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// WithObserver makes the runner report to o (see package
// eventstore/observe), for whichever of these interfaces o implements:
// every run of the handlers for an event, failed attempts included
// ([observe.ProjectionObserver]); skipped and dead-lettered events
// ([observe.FailureObserver]); the lag per partition whenever
// [Runner.Lag] computes it ([observe.LagObserver]; call Lag periodically
// to keep a lag gauge fresh); and the progress of [Runner.CatchUp]
// ([observe.RebuildObserver]). The default reports nothing.
// New fails with an error matching observe.ErrObserver when o would
// silently miss reports (see observe.Check).
func WithObserver(o observe.Observer) Option {
	return func(c *config) { c.hooks, c.obsErr = observe.Resolve(o), observe.Check(o) }
}

// WithHandlerContext sets a function that derives the context the handlers
// of an event get from the runner's context and the event, for example to
// continue the trace of the command that appended it (see
// eventstore/observe/otel.Extract) or to add request-scoped values kept in
// its metadata. The default passes the runner's context unchanged.
func WithHandlerContext(fn func(ctx context.Context, ev eventstore.RecordedEvent) context.Context) Option {
	return func(c *config) { c.handlerCtx = fn }
}

// apply runs the handlers of rec once, in the context WithHandlerContext
// derives, and reports the run to the observer.
func (r *Runner) apply(ctx context.Context, rec *Record) error {
	if r.cfg.handlerCtx != nil {
		ctx = r.cfg.handlerCtx(ctx, rec.Event)
	}
	h := r.cfg.hooks.Handled
	if h == nil {
		return r.applyOnce(ctx, rec)
	}
	start := time.Now()
	err := r.applyOnce(ctx, rec)
	ev := &rec.Event
	h.ObserveHandled(ctx, observe.Handled{
		Projection: r.name, Type: ev.Type, Stream: ev.StreamID, Partition: ev.Position.Partition, Offset: ev.Position.Offset,
		Duration: time.Since(start), Err: err,
	})
	return err
}

// observeFailure reports an event given up on with action ("skip" or
// "dead_letter").
func (r *Runner) observeFailure(ctx context.Context, rec *Record, action string, cause error) {
	h := r.cfg.hooks.Failure
	if h == nil {
		return
	}
	ev := &rec.Event
	h.ObserveFailure(ctx, observe.Failure{
		Projection: r.name, Action: action, Type: ev.Type, Stream: ev.StreamID,
		Partition: ev.Position.Partition, Offset: ev.Position.Offset, Err: cause,
	})
}
