package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
)

// Runner runs one projection: it decodes the events of a [Source] and
// feeds them to the projection's handlers, applies the failure policy and
// keeps the checkpoint. A Runner is safe for concurrent use; Run it once at
// a time.
type Runner struct {
	name  string
	sd    serde.Serde
	hs    *handlerSet
	cfg   config
	types sync.Map // type name -> reflect.Type of its decoded values

	mu   sync.Mutex
	next eventstore.Checkpoint // local progress: next offset per partition
	// stored is the checkpoint store's position per partition as this
	// runner last loaded or committed it: the "from" of its next commit.
	// It trails next when a source reports progress past offsets it
	// delivered nothing for (transaction markers, aborted or filtered
	// records, see Sink.Reached), which no commit stored.
	stored  eventstore.Checkpoint
	changed chan struct{}    // closed and replaced whenever next moves
	parked  map[string]int64 // stream -> lowest dead-lettered version
	loaded  bool             // parked streams loaded from the dead-letter sink
	// releasesAt is when deliveries of each partition last asked the
	// sink for releases.
	releasesAt map[int32]time.Time
	src        Source
	stopErr    error // why the last Run or CatchUp returned; nil while one runs

	processed, skipped, deadLettered, repeats atomic.Int64
}

// Option configures a [Runner].
type Option func(*config)

type config struct {
	checkpoints CheckpointStore
	idem        IdempotencyStore
	attempts    int
	base, max   time.Duration
	action      FailureAction
	dlq         DeadLetterSink
	strict      bool
	// releaseCheck is how often deliveries ask the dead-letter sink for
	// releases (WithReleaseCheck, release.go).
	releaseCheck time.Duration
	logger       *slog.Logger
	progressInt  time.Duration
	pollInt      time.Duration
	hooks        observe.Hooks // WithObserver (observe.go)
	obsErr       error
	handlerCtx   func(context.Context, eventstore.RecordedEvent) context.Context // WithHandlerContext (observe.go)
	readAll      bool                                                            // WithReadAll (filter.go)
}

// WithCheckpoints makes the runner keep its position in cs, in the same
// transaction as the handlers' changes (exactly-once effect). Without it
// the source keeps the position (consumer-group offsets: at least once).
func WithCheckpoints(cs CheckpointStore) Option { return func(c *config) { c.checkpoints = cs } }

// WithIdempotency makes the runner skip events whose version is not above
// the last version it applied for their stream, as recorded in s; use it
// with at-least-once delivery (no CheckpointStore) so that redelivered
// events have no second effect. The default is no deduplication.
func WithIdempotency(s IdempotencyStore) Option { return func(c *config) { c.idem = s } }

// WithRetry sets how failing handlers are retried: at most attempts tries
// in all (attempts >= 1), waiting between base·2^n/2 and base·2^n (capped
// at max) before try n+2. The default is 5 attempts, base 50ms, max 2s.
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(c *config) {
		c.attempts = attempts
		if c.attempts < 1 {
			c.attempts = 1
		}
		c.base, c.max = base, max
	}
}

// WithFailureAction sets what happens to an event whose handler fails
// after the retries: [Stop] (the default) or [Skip]. For [DeadLetter] use
// [WithDeadLetter].
func WithFailureAction(a FailureAction) Option { return func(c *config) { c.action = a } }

// WithDeadLetter sets the failure action to [DeadLetter], sending failed
// events (and the later events of their streams) to sink.
func WithDeadLetter(sink DeadLetterSink) Option {
	return func(c *config) { c.action, c.dlq = DeadLetter, sink }
}

// WithStrictTypes makes events whose type name the serde does not know
// fail (and go through the failure policy) instead of being skipped. The
// default skips them, because an events topic often carries types a
// projection does not care about.
func WithStrictTypes() Option { return func(c *config) { c.strict = true } }

// WithLogger sets the logger for skipped and dead-lettered events. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithProgressInterval sets how often [Runner.CatchUp] reports progress.
// The default is 1s.
func WithProgressInterval(d time.Duration) Option { return func(c *config) { c.progressInt = d } }

// New returns a runner for the projection name (which names its
// checkpoint and dead letters, so keep it stable; give a rebuilt read model
// a new name) that decodes events with sd and feeds them to handlers.
func New(name string, sd serde.Serde, handlers []Handler, opts ...Option) (*Runner, error) {
	if name == "" {
		return nil, fmt.Errorf("projection: empty name; name the projection, e.g. \"order-summary\"")
	}
	if sd == nil {
		return nil, fmt.Errorf("projection %q: nil serde; pass the serde the events were written with", name)
	}
	hs, err := newHandlerSet(handlers)
	if err != nil {
		return nil, err
	}
	cfg := config{attempts: 5, base: 50 * time.Millisecond, max: 2 * time.Second, progressInt: time.Second, pollInt: 100 * time.Millisecond,
		releaseCheck: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.obsErr != nil {
		return nil, fmt.Errorf("projection %q: WithObserver: %w", name, cfg.obsErr)
	}
	if cfg.action == DeadLetter && cfg.dlq == nil {
		return nil, fmt.Errorf("projection %q: failure action dead-letter needs a sink; use projection.WithDeadLetter(sink)", name)
	}
	if cfg.action < Stop || cfg.action > DeadLetter {
		return nil, fmt.Errorf("projection %q: unknown failure action %v", name, cfg.action)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	return &Runner{name: name, sd: sd, hs: hs, cfg: cfg, next: eventstore.Checkpoint{}, stored: eventstore.Checkpoint{},
		changed: make(chan struct{}), parked: map[string]int64{}}, nil
}

// Name returns the projection's name.
func (r *Runner) Name() string { return r.name }

// Stats counts what the runner did since it was created.
type Stats struct {
	// Processed is the number of records whose processing is complete
	// (handled, skipped, repeated or dead-lettered).
	Processed int64
	// Skipped counts events skipped by the Skip failure action.
	Skipped int64
	// DeadLettered counts events sent to the dead-letter sink.
	DeadLettered int64
	// Repeats counts events dropped by WithIdempotency as seen before.
	Repeats int64
}

// Stats returns the runner's counters.
func (r *Runner) Stats() Stats {
	return Stats{Processed: r.processed.Load(), Skipped: r.skipped.Load(), DeadLettered: r.deadLettered.Load(), Repeats: r.repeats.Load()}
}

// Run feeds the events of src to the handlers until ctx is done (it then
// returns ctx's error) or the projection stops on a failure (a
// [*HandlerError]) or an infrastructure error.
func (r *Runner) Run(ctx context.Context, src Source) (err error) {
	r.attach(src)
	defer func() { r.detach(err) }()
	if err := r.loadParked(ctx); err != nil {
		return err
	}
	err = src.Run(ctx, sink{r})
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		return ctx.Err()
	}
	return err
}

// attach records that Run or CatchUp started reading src, and wakes
// waiters (WaitForEnd waits for a source).
func (r *Runner) attach(src Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.src, r.stopErr = src, nil
	r.notifyLocked()
}

// detach records that Run or CatchUp returned err, and wakes waiters.
func (r *Runner) detach(err error) {
	if err == nil {
		err = errors.New("CatchUp finished (call Run to keep the projection up to date)")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopErr = err
	r.notifyLocked()
}

// Position returns a copy of the runner's progress: for each partition the
// offset of the next event it will process.
func (r *Runner) Position() eventstore.Checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next.Clone()
}

// start is [Sink.Start] of the runner's sink: it loads the stored checkpoint when the runner
// has a [CheckpointStore], and resets the runner's progress of the given
// partitions to it.
func (r *Runner) start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, bool, error) {
	cp, ok, err := r.startPartitions(ctx, partitions)
	if err != nil {
		return nil, false, err
	}
	// Releases of parked streams of these partitions take effect before
	// any of their records is delivered (after the checkpoint is loaded:
	// a retry commits at it).
	if err := r.actOnReleases(ctx, partitions, true); err != nil {
		return nil, false, err
	}
	return cp, ok, nil
}

func (r *Runner) startPartitions(ctx context.Context, partitions []int32) (eventstore.Checkpoint, bool, error) {
	if err := r.loadParked(ctx); err != nil {
		return nil, false, err
	}

	if r.cfg.checkpoints == nil {
		return nil, false, nil
	}
	cp, err := r.cfg.checkpoints.Load(ctx, r.name)
	if err != nil {
		return nil, false, fmt.Errorf("projection %q: load checkpoint: %w", r.name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if partitions == nil {
		for p := range r.next {
			r.next[p], r.stored[p] = cp[p], cp[p]
		}
		for p, o := range cp {
			r.next[p], r.stored[p] = o, o
		}
	}
	for _, p := range partitions {
		r.next[p], r.stored[p] = cp[p], cp[p]
	}
	r.notifyLocked()
	return cp.Clone(), true, nil
}

// markRead is [Sink.Reached] of the runner's sink.
func (r *Runner) markRead(partition int32, next int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if next > r.next[partition] {
		r.next[partition] = next
		r.notifyLocked()
	}
}

func (r *Runner) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Runner) advance(p eventstore.Position) { r.advanceBatch(p, 1) }

// advanceBatch records that n records up to and including the one at p
// are done.
func (r *Runner) advanceBatch(p eventstore.Position, n int) {
	r.processed.Add(int64(n))
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.Offset+1 > r.next[p.Partition] {
		r.next[p.Partition] = p.Offset + 1
	}
	r.notifyLocked()
}

func (r *Runner) loadParked(ctx context.Context) error {
	if r.cfg.dlq == nil {
		return nil
	}
	r.mu.Lock()
	loaded := r.loaded
	r.mu.Unlock()
	if loaded {
		return nil
	}
	streams, err := r.cfg.dlq.Parked(ctx, r.name)
	if err != nil {
		return fmt.Errorf("projection %q: load parked streams from the dead-letter sink: %w", r.name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, v := range streams {
		r.park(s, v)
	}
	r.loaded = true
	return nil
}

// isParked reports whether ev follows a dead-lettered event of its stream.
func (r *Runner) isParked(ev *eventstore.RecordedEvent) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.parkedLocked(ev)
}

func (r *Runner) parkedLocked(ev *eventstore.RecordedEvent) bool {
	v, ok := r.parked[ev.StreamID]
	return ok && (ev.Version >= v || ev.Version == 0)
}

// park records that version of stream was dead-lettered. r.mu is held.
func (r *Runner) park(stream string, version int64) {
	if v, ok := r.parked[stream]; !ok || version < v {
		r.parked[stream] = version
	}
}

// permanentError marks errors that retrying cannot fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Permanent wraps err so that the runner does not retry it but applies the
// failure action at once; return it from a handler for an event that can
// never succeed (invalid data).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// applyOnce decodes rec and runs its handlers once (see apply).
func (r *Runner) applyOnce(ctx context.Context, rec *Record) error {
	ev := &rec.Event
	if r.cfg.idem != nil {
		last, err := r.cfg.idem.LastVersion(ctx, r.name, ev.StreamID)
		if err != nil {
			return fmt.Errorf("idempotency store: %w", err)
		}
		if ev.Version <= last {
			r.repeats.Add(1)
			return nil
		}
	}
	m := metaOf(ev)
	for _, h := range r.hs.raw {
		if err := h.rfn(ctx, *ev); err != nil {
			return err
		}
	}
	if eventstore.IsMarker(ev.Type) {
		if err := r.handleNotice(ctx, ev, m); err != nil {
			return err
		}
	} else if t, ok := r.types.Load(ev.Type); !ok || r.hs.wants(t.(reflect.Type)) {
		v, err := r.sd.Unmarshal(ctx, ev.Type, ev.Data)
		switch {
		case errors.Is(err, serde.ErrUnknownType) && !r.cfg.strict:
		case err != nil:
			return Permanent(fmt.Errorf("decode: %w", err))
		default:
			if !ok {
				r.types.Store(ev.Type, reflect.TypeOf(v))
			}
			if err := r.hs.dispatch(ctx, v, m); err != nil {
				return err
			}
		}
	}
	if r.cfg.idem != nil {
		if err := r.cfg.idem.SetLastVersion(ctx, r.name, ev.StreamID, ev.Version); err != nil {
			return fmt.Errorf("idempotency store: %w", err)
		}
	}
	return nil
}
