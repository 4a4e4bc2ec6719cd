package aggregate

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// WithObserver makes the repository report to o (see package
// eventstore/observe) every load ([observe.LoadObserver]: duration, events
// read, snapshot hit/miss/ignored/error) and every retry of Update after a
// concurrency conflict ([observe.RetryObserver]), for whichever of these
// interfaces o implements. With [WithSnapshots] the snapshot writer reports
// its saves to o too ([observe.SnapshotObserver]). Appends are reported by
// the store (for example kafka.WithObserver). The default reports nothing.
//
// NewRepository panics with an error matching [observe.ErrObserver] when o
// would silently miss reports (see [observe.Check]).
func WithObserver(o observe.Observer) Option {
	return func(c *config) { c.observer, c.hooks = o, observe.Resolve(o) }
}

// WithMetadata sets a function that adds to the metadata of the events a
// Save or Update appends, from the command's context: it gets a copy of
// the metadata attached with [eventstore.ContextWithMetadata] (the zero
// value if none; its Values map may be nil, and may be changed freely) and
// changes it in place. Use it to carry request-scoped data with every
// event without threading it through the domain, for example the trace
// context (see eventstore/observe/otel.Inject) or the authenticated user.
// The default adds nothing.
func WithMetadata(fn func(ctx context.Context, md *eventstore.Metadata)) Option {
	return func(c *config) { c.metadata = fn }
}

// enrich returns md as changed by the WithMetadata function, on a copy of
// its Values so that the context's metadata is never modified.
func (r *Repository[T]) enrich(ctx context.Context, md eventstore.Metadata) eventstore.Metadata {
	md.Values = maps.Clone(md.Values)
	r.cfg.metadata(ctx, &md)
	return md
}

// loadObserved is load, reported to the load observer.
func (r *Repository[T]) loadObserved(ctx context.Context, id string) (T, loadInfo, error) {
	h := r.cfg.hooks.Load
	if h == nil {
		return r.loadRetrying(ctx, id)
	}
	start := time.Now()
	a, info, err := r.loadRetrying(ctx, id)
	h.ObserveLoad(ctx, observe.Load{
		Aggregate: r.cfg.aggName, Stream: r.cfg.streamID(id), Events: info.events,
		Snapshot: observeOutcome(info.outcome), Duration: time.Since(start), Err: err,
	})
	return a, info, err
}

func observeOutcome(o snapshotOutcome) observe.SnapshotOutcome {
	switch o {
	case snapshotHit:
		return observe.SnapshotHit
	case snapshotMiss:
		return observe.SnapshotMiss
	case snapshotIgnored:
		return observe.SnapshotIgnored
	case snapshotError:
		return observe.SnapshotError
	default:
		return observe.SnapshotNone
	}
}

// loadRetrying is load, repeated with the retry policy of [WithRetry]
// while the store reports that it cannot read the stream completely now
// ([eventstore.ErrUnavailable]: a broker is away, or another writer's
// transaction on the stream is still undecided).
func (r *Repository[T]) loadRetrying(ctx context.Context, id string) (T, loadInfo, error) {
	for attempt := 0; ; attempt++ {
		a, info, err := r.load(ctx, id)
		if !errors.Is(err, eventstore.ErrUnavailable) || attempt+1 >= r.cfg.attempts {
			return a, info, err
		}
		d := r.backoff(attempt)
		if h := r.cfg.hooks.Retry; h != nil {
			h.ObserveRetry(ctx, observe.Retry{Aggregate: r.cfg.aggName, Stream: r.cfg.streamID(id), Attempt: attempt + 1, Backoff: d})
		}
		r.cfg.logger.WarnContext(ctx, "aggregate: the store cannot read the stream completely now; retrying the load",
			slog.String("stream", r.cfg.streamID(id)), slog.Int("attempt", attempt+1), slog.Duration("backoff", d), slog.Any("error", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return a, info, err
		case <-t.C:
		}
	}
}
