package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
)

// ErrNotFound means the aggregate has no events. It is
// [eventstore.ErrStreamNotFound], so either can be tested with errors.Is.
var ErrNotFound = eventstore.ErrStreamNotFound

// Repository loads and saves aggregates of type T (usually a pointer to a
// struct that embeds [Root]) as streams of events in an
// [eventstore.Store], encoding the events with a [serde.Serde].
// A Repository is safe for concurrent use.
type Repository[T Aggregate] struct {
	store eventstore.Store
	serde serde.Serde
	newT  func() T
	cfg   config
	snaps *snapshots // nil without WithSnapshots
}

// Option configures a [Repository].
type Option func(*config)

type config struct {
	attempts  int
	baseDelay time.Duration
	maxDelay  time.Duration
	logger    *slog.Logger
	streamID  func(id string) string
	snapshots *snapshotConfig
	hooks     observe.Hooks // WithObserver (observe.go)
	observer  observe.Observer
	aggName   string                                      // the aggregate's type, for observers
	metadata  func(context.Context, *eventstore.Metadata) // WithMetadata (observe.go)
	commit    CommitFunc                                  // WithCommit (tx.go)
}

// WithRetry sets how [Repository.Update] retries after a concurrency
// conflict or a store that was unavailable ([eventstore.ErrUnavailable]),
// how Save repeats an append with an unknown outcome or an unavailable
// store, and how Load retries a read the store could not complete now
// ([eventstore.ErrUnavailable]): at most attempts tries in all (attempts >= 1), sleeping a random
// ("full jitter") duration between 0 and base·2^n, capped at max, before
// try n+1. The default is 5 attempts, base 5ms, max 500ms.
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(c *config) {
		c.attempts = max1(attempts)
		c.baseDelay = base
		c.maxDelay = max
	}
}

// WithLogger sets the logger for retries and other notable events. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithStreamID maps aggregate IDs to stream IDs, for example to add a
// prefix ("account-" + id) when several aggregate types share a store. The
// default uses the aggregate ID as the stream ID.
func WithStreamID(f func(id string) string) Option { return func(c *config) { c.streamID = f } }

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// NewRepository returns a repository that stores aggregates created by
// newT (which must return a fresh, zero aggregate, e.g.
// func() *Account { return &Account{} }) in store, encoding events with sd.
//
// With [WithSnapshots], when sd implements [serde.TypeChecker],
// NewRepository checks that the snapshot state (the aggregate, or what its
// [Snapshotter.SnapshotState] returns) can be encoded, and panics with an
// error matching [ErrSnapshotState] if not: like a bad regexp in
// regexp.MustCompile, this is a mistake in the program, found at start-up
// instead of as a log line after every save (register the state type, or
// implement Snapshotter).
func NewRepository[T Aggregate](store eventstore.Store, sd serde.Serde, newT func() T, opts ...Option) *Repository[T] {
	cfg := config{attempts: 5, baseDelay: 5 * time.Millisecond, maxDelay: 500 * time.Millisecond, streamID: func(id string) string { return id }}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if err := observe.Check(cfg.observer); err != nil {
		panic(fmt.Errorf("aggregate: NewRepository: WithObserver: %w", err))
	}
	cfg.aggName = strings.TrimLeft(reflect.TypeFor[T]().String(), "*")
	r := &Repository[T]{store: store, serde: sd, newT: newT, cfg: cfg}
	if cfg.snapshots != nil && cfg.snapshots.store != nil {
		if cfg.hooks.Snapshot != nil { // WithObserver reaches the snapshot writer too (options given to WithSnapshots win)
			cfg.snapshots.opts = append([]snapshot.Option{snapshot.WithObserver(cfg.observer)}, cfg.snapshots.opts...)
		}
		if err := r.checkSnapshotState(); err != nil {
			panic(err)
		}
		r.snaps = newSnapshots(cfg.snapshots, cfg.logger)
	}
	return r
}

// New returns a fresh aggregate with the given ID and version 0.
func (r *Repository[T]) New(id string) T {
	a := r.newT()
	Init(a, id)
	return a
}

// Load rebuilds the aggregate with the given ID from its events. It returns
// an error matching [ErrNotFound] when the aggregate has no events,
// [eventstore.ErrStreamDeleted] when its stream was deleted,
// [eventstore.ErrStreamTruncated] when the stream is truncated
// ([eventstore.Lifecycle]) after the latest usable snapshot (or there is
// none): history the aggregate needs is no longer read, and a
// descriptive error naming the stream, version and position when an event
// cannot be decoded (for example an unknown event type: register it with
// serde.Register). With [WithSnapshots] it starts from the latest usable
// snapshot and reads only the events after it.
func (r *Repository[T]) Load(ctx context.Context, id string) (T, error) {
	a, info, err := r.loadObserved(ctx, id)
	if err != nil {
		var zero T
		return zero, err
	}
	if info.events == 0 {
		var zero T
		return zero, fmt.Errorf("aggregate %q: %w", id, ErrNotFound)
	}
	if r.snaps != nil && info.mark.version > 0 {
		r.snaps.remember(r.cfg.streamID(id), info.mark)
	}
	return a, nil
}

// replay applies the stored events of a's stream from version from on and
// returns how many it applied.
func (r *Repository[T]) replay(ctx context.Context, a T, from int64) (int, error) {
	root := a.aggregateRoot()
	n := 0
	for rec, err := range r.store.ReadStream(ctx, r.cfg.streamID(root.id), from) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return n, nil
		}
		var te *eventstore.StreamTruncatedError
		if errors.As(err, &te) {
			return n, fmt.Errorf("aggregate %q: cannot rebuild from version %d, the stream's history before version %d is truncated; "+
				"the repository needs a usable snapshot at version %d or later (WithSnapshots): %w", root.id, from, te.Before, te.Before-1, err)
		}
		if err != nil {
			return n, fmt.Errorf("aggregate %q: read events: %w", root.id, err)
		}
		if eventstore.IsMarker(rec.Type) {
			// A lifecycle marker (a truncation) takes a version of the
			// stream but is not an event of the aggregate.
			root.version = rec.Version
			n++
			continue
		}
		ev, err := r.serde.Unmarshal(ctx, rec.Type, rec.Data)
		if err != nil {
			return n, fmt.Errorf("aggregate %q: decode event %s (stream %q, version %d, position %s): %w", root.id, rec.Type, rec.StreamID, rec.Version, rec.Position, err)
		}
		a.Apply(ev)
		root.version = rec.Version
		n++
	}
	return n, nil
}

// Save appends the aggregate's changes to its stream, expecting the stream
// to be at the version the aggregate was loaded at, and marks them saved.
// It returns an error matching [eventstore.ErrConcurrencyConflict] when
// another writer appended first. When the store cannot tell whether the
// append was written ([eventstore.ErrUnknownOutcome]), Save repeats it with
// the same event IDs (the retry policy of [WithRetry]), which the store
// turns into a no-op if the first attempt was written; if the outcome is
// still unknown, the error matches eventstore.ErrUnknownOutcome and the
// aggregate keeps its changes and their IDs, so calling Save again is safe.
// After a save, a.Appended() reports the version and the positions of the
// appended events (for projection.Runner.WaitFor).
// Saving an aggregate without changes does nothing; saving one on which
// [Raise] rejected an event fails with an error matching [ErrInvalidEvent]
// and stores nothing.
func (r *Repository[T]) Save(ctx context.Context, a T) error {
	return r.save(ctx, a, snapMark{})
}

// save is Save with what the caller knows about the stream's latest
// snapshot.
func (r *Repository[T]) save(ctx context.Context, a T, mark snapMark) error {
	root := a.aggregateRoot()
	if root.err != nil {
		return fmt.Errorf("aggregate %q: not saved, a command raised an invalid event: %w", root.id, root.err)
	}
	if len(root.changes) == 0 {
		root.appended = eventstore.AppendResult{}
		return nil
	}
	events, err := r.encodeChanges(ctx, a)
	if err != nil {
		return err
	}
	prev, lastID := root.version, events[len(events)-1].ID // a snapshot records the ID of the last event it covers
	res, err := r.appendRetryingUnknown(ctx, root, events)
	if err != nil {
		return fmt.Errorf("aggregate %q: save %d events at version %d: %w", root.id, len(events), root.version, err)
	}
	r.saved(ctx, a, res, prev, lastID, mark)
	return nil
}

// encodeChanges turns the aggregate's unsaved changes into events, with
// the context's metadata and stable event IDs.
func (r *Repository[T]) encodeChanges(ctx context.Context, a T) ([]eventstore.Event, error) {
	root := a.aggregateRoot()
	md, _ := eventstore.MetadataFromContext(ctx)
	if r.cfg.metadata != nil {
		md = r.enrich(ctx, md)
	}
	events := make([]eventstore.Event, len(root.changes))
	for i, ch := range root.changes {
		name, data, err := r.serde.Marshal(ctx, ch)
		if err != nil {
			return nil, fmt.Errorf("aggregate %q: encode event %T: %w", root.id, ch, err)
		}
		events[i] = eventstore.Event{Type: name, Data: data, Metadata: md}
	}
	// Every change keeps its event ID until it is saved: a save retried
	// after an unknown outcome (here or by the caller) repeats the same
	// append, which the store recognises if it was written.
	for len(root.ids) < len(root.changes) {
		root.ids = append(root.ids, eventstore.NewEventID())
	}
	for i := range events {
		events[i].ID = root.ids[i]
	}
	return events, nil
}

// saved marks the aggregate's changes saved by the append res, and takes a
// snapshot when the policy says so. prev is the version the aggregate was
// loaded at, lastID the ID of its last event.
func (r *Repository[T]) saved(ctx context.Context, a T, res eventstore.AppendResult, prev int64, lastID string, mark snapMark) {
	markSaved(a, res.Version)
	a.aggregateRoot().appended = eventstore.AppendResult{Version: res.Version, Positions: append([]eventstore.Position(nil), res.Positions...)}
	if r.snaps != nil {
		r.afterSave(ctx, a, prev, lastID, mark)
	}
}

// appendRetryingUnknown appends events, repeating the append with the same
// event IDs while the store reports that it does not know the outcome
// ([eventstore.ErrUnknownOutcome]), with the retry policy of [WithRetry].
func (r *Repository[T]) appendRetryingUnknown(ctx context.Context, root *Root, events []eventstore.Event) (eventstore.AppendResult, error) {
	stream := r.cfg.streamID(root.id)
	return r.cfg.repeatUnknown(ctx, stream, func() (eventstore.AppendResult, error) {
		return r.store.Append(ctx, stream, eventstore.Exact(root.version), events...)
	})
}

// repeatUnknown runs the append op, repeating it (it must repeat the same
// event IDs) while the store reports that it does not know the outcome
// ([eventstore.ErrUnknownOutcome]) or could not do it now
// ([eventstore.ErrUnavailable]), with the retry policy of [WithRetry].
func (c *config) repeatUnknown(ctx context.Context, stream string, op func() (eventstore.AppendResult, error)) (eventstore.AppendResult, error) {
	var unknown error // the first unknown outcome, if any
	for attempt := 0; ; attempt++ {
		res, err := op()
		if unknown != nil && err != nil && !errors.Is(err, eventstore.ErrUnknownOutcome) &&
			!errors.Is(err, eventstore.ErrConcurrencyConflict) && !errors.Is(err, eventstore.ErrDuplicateEventID) {
			// A repeat that failed without proving the first attempt's
			// fate (only a conflict or a duplicate ID proves it): the
			// outcome is still unknown, whatever this attempt says about
			// itself.
			err = fmt.Errorf("%w: a repeat failed without learning the fate of the first attempt (%v): %w", unknown, err, eventstore.ErrUnknownOutcome)
		}
		if unknown == nil && errors.Is(err, eventstore.ErrUnknownOutcome) {
			unknown = err
		}
		// Repeat an unknown outcome, and an append the store could not
		// do now (eventstore.ErrUnavailable: nothing was written).
		if !(errors.Is(err, eventstore.ErrUnknownOutcome) || errors.Is(err, eventstore.ErrUnavailable)) || attempt+1 >= c.attempts {
			return res, err
		}
		d := c.backoff(attempt)
		if h := c.hooks.Retry; h != nil {
			h.ObserveRetry(ctx, observe.Retry{Aggregate: c.aggName, Stream: stream, Attempt: attempt + 1, Backoff: d})
		}
		c.logger.WarnContext(ctx, "aggregate: the store does not know whether the save was written; repeating it with the same event IDs",
			slog.String("stream", stream), slog.Int("attempt", attempt+1), slog.Duration("backoff", d), slog.Any("error", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, err
		case <-t.C:
		}
	}
}

// Update runs a command: it loads the aggregate (a new one at version 0 if
// it has no events), calls fn, and saves the changes fn raised. When the
// save meets a concurrency conflict it starts over with a fresh load, with
// the retry policy of [WithRetry]; when the store does not know whether
// the save was written, the save is repeated with the same event IDs (see
// [Repository.Save]) and fn does not run again. An error from fn is returned exactly as
// fn returned it, and nothing is saved. It returns the aggregate as saved;
// its Appended method reports the positions of the events it appended.
func (r *Repository[T]) Update(ctx context.Context, id string, fn func(T) error) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		a, info, err := r.loadObserved(ctx, id)
		if err != nil {
			return zero, err
		}
		if err := fn(a); err != nil {
			return zero, err
		}
		err = r.save(ctx, a, info.mark)
		if err == nil {
			return a, nil
		}
		// A conflict, or a store that was unavailable, wrote nothing:
		// start over with a fresh load. An unknown outcome never does.
		retryable := errors.Is(err, eventstore.ErrConcurrencyConflict) || errors.Is(err, eventstore.ErrUnavailable)
		if !retryable || errors.Is(err, eventstore.ErrUnknownOutcome) || attempt+1 >= r.cfg.attempts {
			if attempt > 0 {
				err = fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return zero, err
		}
		d := r.backoff(attempt)
		if h := r.cfg.hooks.Retry; h != nil {
			h.ObserveRetry(ctx, observe.Retry{Aggregate: r.cfg.aggName, Stream: r.cfg.streamID(id), Attempt: attempt + 1, Backoff: d})
		}
		r.cfg.logger.DebugContext(ctx, "aggregate: concurrency conflict, retrying",
			slog.String("stream", r.cfg.streamID(id)), slog.Int("attempt", attempt+1), slog.Duration("backoff", d))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff returns a full-jitter delay for the given retry (0-based).
func (r *Repository[T]) backoff(attempt int) time.Duration { return r.cfg.backoff(attempt) }

// backoff returns a full-jitter delay for the given retry (0-based).
func (c *config) backoff(attempt int) time.Duration {
	ceil := c.baseDelay << min(attempt, 20)
	if ceil > c.maxDelay || ceil <= 0 {
		ceil = c.maxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}
