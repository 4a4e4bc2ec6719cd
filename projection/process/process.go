package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

// Handler reacts to the events of one Go type. Create handlers with [On].
type Handler struct {
	typ reflect.Type
	fn  func(ctx context.Context, tx *aggregate.Tx, ev any, m projection.Meta) error
}

// On returns a handler for events of type T (the type registered with the
// manager's serde; handlers receive values, not pointers). The handler
// decides: it loads the aggregates it needs through tx
// ([aggregate.Repository.LoadIn]) and runs commands on them; everything it
// changed is saved when the batch commits, atomically with the manager's
// position. It may run more than once for an event (after a conflict the
// batch is decided again on fresh loads), so keep other side effects out
// of it. An error stops the manager ([Manager.Run] returns a
// [projection.HandlerError]) and nothing of the batch is saved, except an
// error matching [eventstore.ErrUnavailable] (a load the store could not
// complete now), after which the batch is decided again.
func On[T any](fn func(ctx context.Context, tx *aggregate.Tx, ev T, m projection.Meta) error) Handler {
	return Handler{
		typ: reflect.TypeFor[T](),
		fn: func(ctx context.Context, tx *aggregate.Tx, ev any, m projection.Meta) error {
			return fn(ctx, tx, ev.(T), m)
		},
	}
}

// Committer makes a process manager's decisions durable together with its
// position, in one atomic step, and tells where to resume. Implementations:
// [NewMemoryCommitter] for tests and single-process use, and
// kafkaprojection.ProcessCommitter, which writes the events and the
// consumer-group offsets in one Kafka transaction.
type Committer interface {
	// Start returns the committed position of the given partitions (nil:
	// all); a missing partition starts at the beginning of the log.
	Start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, error)
	// Commit writes appends (the batch's decisions: one entry per
	// aggregate the batch loaded, conditions for those it only read;
	// possibly none) and moves partition's position to next, all or
	// nothing, returning one result per entry. It fails with an error
	// matching [eventstore.ErrConcurrencyConflict] when a condition does
	// not hold (the batch is decided again), and with one matching
	// [projection.ErrCheckpointMoved] when the partition now belongs to
	// another instance (nothing was written; the manager resumes from
	// the committed position).
	Commit(ctx context.Context, partition int32, next int64, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error)
}

// Manager is a process manager (a saga): it consumes events like a
// projection, and its handlers decide and change aggregates; the events
// they raise and the manager's position are committed together, so that
// every input event's effects happen exactly once, across crashes and
// rebalances, with a [Committer] that commits both in one transaction.
// Create it with [New]; it is safe for concurrent use.
type Manager struct {
	name      string
	sd        serde.Serde
	committer Committer
	byType    map[reflect.Type]Handler
	cfg       config

	processed, batches, redecided atomic.Int64
	mu                            sync.Mutex
	position                      eventstore.Checkpoint
}

// Option configures a [Manager].
type Option func(*config)

type config struct {
	logger *slog.Logger
	retry  []aggregate.Option
	pause  time.Duration
}

// WithLogger sets the logger for retries. The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithConflictPause sets how long the manager waits between rounds of
// decisions that keep meeting conflicts (each round is aggregate.Transact
// with its own retries, 10 attempts by default). A batch is never skipped:
// the manager retries until it commits or ctx ends. The default is 50ms.
func WithConflictPause(d time.Duration) Option { return func(c *config) { c.pause = d } }

// New returns a process manager named name (used in errors and logs)
// that decodes events with sd, dispatches them to handlers by Go type
// (events of other types are passed over, and still move the position),
// and commits through c.
func New(name string, sd serde.Serde, c Committer, handlers []Handler, opts ...Option) (*Manager, error) {
	if name == "" || sd == nil || c == nil {
		return nil, fmt.Errorf("%w: process.New needs a name, a serde and a committer", eventstore.ErrInvalidArgument)
	}
	cfg := config{logger: slog.Default(), pause: 50 * time.Millisecond,
		retry: []aggregate.Option{aggregate.WithRetry(10, 2*time.Millisecond, 100*time.Millisecond)}}
	for _, o := range opts {
		o(&cfg)
	}
	m := &Manager{name: name, sd: sd, committer: c, byType: map[reflect.Type]Handler{}, cfg: cfg, position: eventstore.Checkpoint{}}
	for _, h := range handlers {
		if h.fn == nil {
			return nil, fmt.Errorf("%w: process %q: a handler was not made with process.On", eventstore.ErrInvalidArgument, name)
		}
		if _, dup := m.byType[h.typ]; dup {
			return nil, fmt.Errorf("%w: process %q: two handlers for %v", eventstore.ErrInvalidArgument, name, h.typ)
		}
		if tc, ok := sd.(serde.TypeChecker); ok {
			if err := tc.CheckType(h.typ); err != nil {
				return nil, fmt.Errorf("process %q: handler for %v: %w", name, h.typ, err)
			}
		}
		m.byType[h.typ] = h
	}
	return m, nil
}

// Stats counts what a manager did.
type Stats struct {
	// Processed is the number of input events committed past.
	Processed int64
	// Batches is the number of committed batches.
	Batches int64
	// Redecided is the number of times a batch was decided again after a
	// conflict.
	Redecided int64
}

// Stats returns the manager's counters.
func (m *Manager) Stats() Stats {
	return Stats{Processed: m.processed.Load(), Batches: m.batches.Load(), Redecided: m.redecided.Load()}
}

// Position returns how far the manager has committed, per partition.
func (m *Manager) Position() eventstore.Checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.position)
}

// WaitFor waits until the manager has committed past every position in
// positions (in this instance: positions of partitions another instance
// owns are not seen), or ctx ends.
func (m *Manager) WaitFor(ctx context.Context, positions ...eventstore.Position) error {
	for {
		pos := m.Position()
		done := true
		for _, p := range positions {
			done = done && pos.Includes(p)
		}
		if done {
			return nil
		}
		if err := ctxtime.Sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// Run consumes src (a consumer-group source of package kafkaprojection, or
// projection.FromStore) and processes its events until ctx ends (then it
// returns ctx.Err()) or a handler fails.
func (m *Manager) Run(ctx context.Context, src projection.Source) error {
	return src.Run(ctx, &sink{m: m})
}

// Handle processes events, which must be consecutive events of one
// partition in log order, as one batch: the handlers run, and their
// decisions are committed with the position after the last event. Run
// calls it for every batch its source delivers; tests and custom sources
// may call it directly.
func (m *Manager) Handle(ctx context.Context, events ...eventstore.RecordedEvent) error {
	if len(events) == 0 {
		return nil
	}
	recs := make([]projection.Record, len(events))
	for i, ev := range events {
		recs[i] = projection.Record{Event: ev}
	}
	_, err := (&sink{m: m}).Deliver(ctx, recs)
	return err
}

type sink struct{ m *Manager }

func (s *sink) Start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, bool, error) {
	cp, err := s.m.committer.Start(ctx, partitions)
	if err != nil {
		return nil, false, fmt.Errorf("process %q: load the committed position: %w", s.m.name, err)
	}
	s.m.mu.Lock()
	for p, off := range cp {
		s.m.position[p] = off
	}
	s.m.mu.Unlock()
	return cp, true, nil
}

func (s *sink) Reached(int32, int64) {}

// Deliver decides a batch and commits it, deciding again after conflicts
// until it commits or ctx ends.
func (s *sink) Deliver(ctx context.Context, recs []projection.Record) (int, error) {
	m := s.m
	last := recs[len(recs)-1].Event.Position
	commit := aggregate.WithCommit(func(ctx context.Context, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
		return m.committer.Commit(ctx, last.Partition, last.Offset+1, appends)
	})
	opts := append(append([]aggregate.Option{aggregate.WithLogger(m.cfg.logger)}, m.cfg.retry...), commit)
	for round := 0; ; round++ {
		var failed *projection.HandlerError
		decisions := 0
		err := aggregate.Transact(ctx, func(tx *aggregate.Tx) error {
			if decisions++; decisions > 1 {
				m.redecided.Add(1)
			}
			for i := range recs {
				if err := m.decide(ctx, tx, &recs[i]); err != nil {
					failed = err
					return err
				}
			}
			return nil
		}, opts...)
		switch {
		case err == nil:
			m.processed.Add(int64(len(recs)))
			m.batches.Add(1)
			m.mu.Lock()
			m.position = m.position.Advance(last)
			m.mu.Unlock()
			return len(recs), nil
		case failed != nil && errors.Is(failed.Err, eventstore.ErrUnavailable) && ctx.Err() == nil:
			// A load the store could not complete now (another
			// writer's transaction still open on the stream, a broker
			// away): not the handler's fault, and nothing was saved.
			// Decide again after a pause, as after a conflict.
			m.cfg.logger.WarnContext(ctx, "process: a handler could not load an aggregate now; deciding the batch again",
				slog.String("process", m.name), slog.String("last", last.String()), slog.Int("round", round+1), slog.Any("error", failed.Err))
			if err := ctxtime.Sleep(ctx, m.cfg.pause); err != nil {
				return 0, err
			}
		case failed != nil:
			return 0, failed
		case ctx.Err() != nil:
			return 0, ctx.Err()
		case errors.Is(err, projection.ErrCheckpointMoved):
			return 0, err
		case errors.Is(err, eventstore.ErrUnknownOutcome):
			// The decisions and the position were committed together or
			// not at all: resume from the committed position, which
			// tells.
			return 0, fmt.Errorf("%w: process %q: the commit of the batch ending at %s has an unknown outcome; resuming from the committed position: %w",
				projection.ErrCheckpointMoved, m.name, last, err)
		case errors.Is(err, eventstore.ErrConcurrencyConflict) || errors.Is(err, eventstore.ErrUnavailable):
			m.cfg.logger.WarnContext(ctx, "process: a batch keeps meeting conflicts or an unavailable store; deciding it again",
				slog.String("process", m.name), slog.String("last", last.String()), slog.Int("round", round+1), slog.Any("error", err))
			if err := ctxtime.Sleep(ctx, m.cfg.pause); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("process %q: commit the batch ending at %s: %w", m.name, last, err)
		}
	}
}

// decide runs the handler of one record, if any.
func (m *Manager) decide(ctx context.Context, tx *aggregate.Tx, rec *projection.Record) *projection.HandlerError {
	ev := &rec.Event
	meta := projection.Meta{
		StreamID: ev.StreamID, Version: ev.Version, Position: ev.Position, Time: ev.RecordedAt,
		EventID: ev.ID, Type: ev.Type, CorrelationID: ev.Metadata.CorrelationID,
		CausationID: ev.Metadata.CausationID, Values: ev.Metadata.Values,
	}
	herr := func(err error) *projection.HandlerError {
		return &projection.HandlerError{Projection: m.name, Meta: meta, Attempts: 1, Err: err}
	}
	if rec.DecodeErr != nil {
		return herr(rec.DecodeErr)
	}
	if eventstore.IsMarker(ev.Type) {
		return nil // a stream's lifecycle marker: not an event a manager decides on
	}
	v, err := m.sd.Unmarshal(ctx, ev.Type, ev.Data)
	if errors.Is(err, serde.ErrUnknownType) {
		return nil // not an event this manager handles
	}
	if err != nil {
		return herr(err)
	}
	h, ok := m.byType[reflect.TypeOf(v)]
	if !ok {
		return nil
	}
	if err := h.fn(ctx, tx, v, meta); err != nil {
		return herr(err)
	}
	return nil
}
