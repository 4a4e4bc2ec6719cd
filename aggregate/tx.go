package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// Tx is one command over several aggregates, run by [Transact]: the
// aggregates the command loads through [Repository.LoadIn] and
// [Repository.LoadOrNewIn] are saved together in one atomic multi-stream
// append ([eventstore.MultiAppender]), each expecting the version it was
// loaded at. An aggregate loaded but not changed is still part of the
// decision: its stream must be unchanged when the append takes effect (a
// condition; see [eventstore.StreamAppend]), so that a command that reads
// one aggregate to change another never acts on stale state.
//
// A Tx is valid only inside the function passed to Transact, and is not
// safe for concurrent use.
type Tx struct {
	ctx      context.Context
	store    eventstore.Store
	members  []*txMember
	byStream map[string]*txMember
	done     bool
}

// txMember is an aggregate loaded in a Tx.
type txMember struct {
	stream string
	agg    Aggregate
	exists bool // it had events when loaded
	// encode and saved are the repository's steps for the aggregate
	// (its serde, metadata and snapshots).
	encode func(ctx context.Context) ([]eventstore.Event, error)
	saved  func(ctx context.Context, res eventstore.AppendResult, prev int64, lastID string)
}

// CommitFunc makes the entries of a transaction durable in one atomic
// step, as [eventstore.MultiAppender.AppendMulti] does, returning one
// result per entry. See [WithCommit].
type CommitFunc func(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error)

// WithCommit makes [Transact] save through commit instead of the store's
// AppendMulti, so that the caller can store more in the same atomic step:
// a process manager commits its consumer offset with the events it
// decided (package projection/process). Transact calls commit once per
// attempt, also when nothing changed (then every entry is a condition, or
// there is none) and also for a single aggregate; the errors it returns
// are judged as AppendMulti's (a conflict or ErrUnavailable starts over,
// ErrUnknownOutcome repeats the call with the same event IDs). Only
// Transact uses it; NewRepository ignores it.
func WithCommit(commit CommitFunc) Option { return func(c *config) { c.commit = commit } }

// Context returns the context Transact was called with.
func (tx *Tx) Context() context.Context { return tx.ctx }

// Transact runs fn as one command over several aggregates and saves every
// aggregate fn loaded through the transaction in one atomic multi-stream
// append (see [Tx]): all of their changes are written, or none.
//
// Like [Repository.Update], it starts over with fresh loads when the
// append meets a concurrency conflict (any of the aggregates changed
// meanwhile) or an unavailable store, and repeats the append with the
// same event IDs when the store does not know whether it was written (fn
// does not run again then). An error from fn is returned exactly as fn
// returned it, and nothing is saved. Of opts, [WithRetry] and
// [WithLogger] apply (the defaults are those of NewRepository: 5
// attempts, base 5ms, max 500ms); [WithObserver] reports retries.
//
// Every repository used in one transaction must share one store, and that
// store must implement [eventstore.MultiAppender] (the memory and the Kafka
// store do) unless the command changes one aggregate and reads no other.
// After Transact returns nil, each changed aggregate's Appended method
// reports what was appended for it.
func Transact(ctx context.Context, fn func(tx *Tx) error, opts ...Option) error {
	cfg := config{attempts: 5, baseDelay: 5 * time.Millisecond, maxDelay: 500 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	policy := &cfg
	for attempt := 0; ; attempt++ {
		tx := &Tx{ctx: ctx, byStream: map[string]*txMember{}}
		err := fn(tx)
		tx.done = true
		if err != nil {
			return err
		}
		err = tx.commit(ctx, policy)
		if err == nil {
			return nil
		}
		retryable := errors.Is(err, eventstore.ErrConcurrencyConflict) || errors.Is(err, eventstore.ErrUnavailable)
		if !retryable || errors.Is(err, eventstore.ErrUnknownOutcome) || attempt+1 >= cfg.attempts {
			if attempt > 0 {
				err = fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			return err
		}
		d := policy.backoff(attempt)
		if h := cfg.hooks.Retry; h != nil {
			for _, m := range tx.members {
				h.ObserveRetry(ctx, observe.Retry{Aggregate: reflect.TypeOf(m.agg).String(), Stream: m.stream, Attempt: attempt + 1, Backoff: d})
			}
		}
		cfg.logger.DebugContext(ctx, "aggregate: concurrency conflict in a transaction, retrying",
			slog.Int("aggregates", len(tx.members)), slog.Int("attempt", attempt+1), slog.Duration("backoff", d), slog.Any("error", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// LoadIn loads the aggregate with the given ID as [Repository.Load] does
// and makes it part of tx: its changes are saved when the transaction
// commits, and if it has none its stream must still be at the loaded
// version then. Loading the same aggregate twice in one transaction
// returns the same value. It returns an error matching [ErrNotFound] when
// the aggregate has no events.
func (r *Repository[T]) LoadIn(tx *Tx, id string) (T, error) {
	return r.loadIn(tx, id, false)
}

// LoadOrNewIn is [Repository.LoadIn] that returns a new aggregate at
// version 0 when the aggregate has no events; the transaction then
// expects its stream not to exist when it commits.
func (r *Repository[T]) LoadOrNewIn(tx *Tx, id string) (T, error) {
	return r.loadIn(tx, id, true)
}

func (r *Repository[T]) loadIn(tx *Tx, id string, orNew bool) (T, error) {
	var zero T
	if tx == nil || tx.done {
		return zero, fmt.Errorf("%w: aggregate %q: load it in the function passed to aggregate.Transact, with the *Tx it was given; that transaction is over", eventstore.ErrInvalidArgument, id)
	}
	stream := r.cfg.streamID(id)
	if m := tx.byStream[stream]; m != nil {
		a, ok := m.agg.(T)
		if !ok {
			return zero, fmt.Errorf("%w: stream %q is loaded twice in one transaction, as %T and as %s; give the aggregate types distinct stream IDs (WithStreamID)", eventstore.ErrInvalidArgument, stream, m.agg, reflect.TypeFor[T]())
		}
		if !m.exists && !orNew {
			return zero, fmt.Errorf("aggregate %q: %w", id, ErrNotFound)
		}
		return a, nil
	}
	switch {
	case tx.store == nil:
		tx.store = r.store
	case !sameStore(tx.store, r.store):
		return zero, fmt.Errorf("%w: aggregate %q: the repositories of one transaction must share one store (this one uses %T, an earlier one %T)", eventstore.ErrInvalidArgument, id, r.store, tx.store)
	}
	a, info, err := r.loadObserved(tx.ctx, id)
	if err != nil {
		return zero, err
	}
	if info.events == 0 && !orNew {
		return zero, fmt.Errorf("aggregate %q: %w", id, ErrNotFound)
	}
	m := &txMember{
		stream: stream, agg: a, exists: info.events > 0,
		encode: func(ctx context.Context) ([]eventstore.Event, error) { return r.encodeChanges(ctx, a) },
		saved: func(ctx context.Context, res eventstore.AppendResult, prev int64, lastID string) {
			r.saved(ctx, a, res, prev, lastID, info.mark)
		},
	}
	if r.snaps != nil && info.mark.version > 0 {
		r.snaps.remember(stream, info.mark)
	}
	tx.members = append(tx.members, m)
	tx.byStream[stream] = m
	return a, nil
}

// sameStore reports whether a and b are the same store (values of a type
// that cannot be compared are taken as the same when their types are).
func sameStore(a, b eventstore.Store) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb {
		return false
	}
	if !ta.Comparable() {
		return true
	}
	return a == b
}

// commit saves the transaction's aggregates in one multi-stream append.
func (tx *Tx) commit(ctx context.Context, policy *config) error {
	appends := make([]eventstore.StreamAppend, len(tx.members))
	var writes []int
	for i, m := range tx.members {
		root := m.agg.aggregateRoot()
		if root.err != nil {
			return fmt.Errorf("aggregate %q: transaction not saved, a command raised an invalid event: %w", root.id, root.err)
		}
		appends[i] = eventstore.StreamAppend{StreamID: m.stream, Expected: eventstore.Exact(root.version)}
		if len(root.changes) == 0 {
			root.appended = eventstore.AppendResult{}
			continue
		}
		events, err := m.encode(ctx)
		if err != nil {
			return err
		}
		appends[i].Events = events
		writes = append(writes, i)
	}
	var results []eventstore.AppendResult
	var err error
	switch {
	case policy.commit != nil:
		results, err = repeatUnknownMulti(ctx, policy, func() ([]eventstore.AppendResult, error) {
			return policy.commit(ctx, appends)
		})
		if err == nil && len(results) != len(appends) {
			err = fmt.Errorf("aggregate: WithCommit's function returned %d results for %d entries", len(results), len(appends))
		}
	case len(writes) == 0:
		return nil // a command that changed nothing saves nothing
	case len(appends) == 1:
		// One aggregate, read and changed: a plain append, which every
		// store supports.
		var res eventstore.AppendResult
		res, err = policy.repeatUnknown(ctx, appends[0].StreamID, func() (eventstore.AppendResult, error) {
			return tx.store.Append(ctx, appends[0].StreamID, appends[0].Expected, appends[0].Events...)
		})
		results = []eventstore.AppendResult{res}
	default:
		results, err = repeatUnknownMulti(ctx, policy, func() ([]eventstore.AppendResult, error) {
			return eventstore.AppendMulti(ctx, tx.store, appends...)
		})
	}
	if err != nil {
		return fmt.Errorf("aggregate: save a transaction over %d aggregates (%d changed): %w", len(appends), len(writes), err)
	}
	for _, i := range writes {
		m := tx.members[i]
		evs := appends[i].Events
		m.saved(ctx, results[i], m.agg.aggregateRoot().version, evs[len(evs)-1].ID)
	}
	return nil
}

// repeatUnknownMulti is repeatUnknown for a multi-stream append.
func repeatUnknownMulti(ctx context.Context, policy *config, appendMulti func() ([]eventstore.AppendResult, error)) ([]eventstore.AppendResult, error) {
	var out []eventstore.AppendResult
	_, err := policy.repeatUnknown(ctx, "(multi-stream)", func() (eventstore.AppendResult, error) {
		res, err := appendMulti()
		out = res
		return eventstore.AppendResult{}, err
	})
	return out, err
}
