package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// Writer saves snapshots in the background, so that whoever takes a
// snapshot (usually a repository, right after a command's events were
// stored) neither waits for the snapshot store nor fails when it is down.
//
// Snapshots wait in a bounded queue that holds at most one snapshot per
// stream: a newer snapshot of a stream replaces a queued older one. When
// the queue is full, [Writer.Enqueue] drops the snapshot and counts it (the
// policy triggers again on a later save). A failed write is logged and
// retried with exponential backoff; after the last attempt the snapshot is
// given up, which is safe because events are already stored: the next load
// just replays more of them.
//
// A Writer runs a goroutine only while it has work, so an idle Writer holds
// no goroutines and needs no Close; use [Writer.Flush] to wait for queued
// snapshots (tests, graceful shutdown).
type Writer struct {
	store Store
	opts  options

	mu      sync.Mutex
	pending map[string]*entry
	ready   []string
	running bool
	empty   chan struct{} // closed when pending becomes empty; nil while empty

	written, failed, gaveUp, dropped atomic.Int64
	lastDropLog                      atomic.Int64 // unix nanoseconds of the last "queue full" warning

	obs observe.SnapshotObserver // nil: not observed (observe.go)
}

// dropLogInterval limits "queue full" warnings to one per interval, so an
// overloaded writer does not flood the log; Stats counts every drop.
const dropLogInterval = 10 * time.Second

type entry struct {
	snap     Snapshot
	seq      uint64 // bumped when snap is replaced by a newer one
	attempts int
	queued   bool
}

// options configure a [Writer]; the With… functions set them.
type options struct {
	// QueueSize is the most streams with a snapshot waiting to be written.
	QueueSize int
	// Attempts is how many times a snapshot write is tried.
	Attempts int
	// RetryBase and RetryMax bound the backoff between attempts:
	// RetryBase·2^n, capped at RetryMax, with full jitter.
	RetryBase, RetryMax time.Duration
	// WriteTimeout bounds one write.
	WriteTimeout time.Duration
	// Logger receives failed and dropped writes.
	Logger *slog.Logger
	// Observer is told about every save and dropped snapshot when it
	// implements observe.SnapshotObserver (see WithObserver).
	Observer observe.Observer
}

// Option configures a [Writer].
type Option func(*options)

// WithQueueSize sets how many streams may have a snapshot waiting to be
// written (default 1024; values below 1 mean 1).
func WithQueueSize(n int) Option { return func(o *options) { o.QueueSize = max(n, 1) } }

// WithRetry sets how often a failed write is tried in all (default 5;
// values below 1 mean 1) and the backoff between tries (default 100ms
// doubling up to 30s, with full jitter).
func WithRetry(attempts int, base, max time.Duration) Option {
	return func(o *options) {
		o.Attempts = max1(attempts)
		o.RetryBase, o.RetryMax = base, max
	}
}

// WithWriteTimeout bounds each write to the store (default 10s).
func WithWriteTimeout(d time.Duration) Option { return func(o *options) { o.WriteTimeout = d } }

// WithLogger sets the logger for failed and dropped writes (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.Logger = l } }

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// NewWriter returns a Writer that saves snapshots to store.
func NewWriter(store Store, opts ...Option) *Writer {
	o := options{QueueSize: 1024, Attempts: 5, RetryBase: 100 * time.Millisecond, RetryMax: 30 * time.Second, WriteTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := observe.Check(o.Observer); err != nil {
		panic(fmt.Errorf("snapshot: NewWriter: WithObserver: %w", err))
	}
	return &Writer{store: store, opts: o, pending: map[string]*entry{}, obs: observe.Resolve(o.Observer).Snapshot}
}

// WriterStats counts what a [Writer] did since it was created.
type WriterStats struct {
	// Pending is the number of streams with a snapshot waiting to be
	// written (queued, in flight, or waiting for a retry).
	Pending int
	// Written counts snapshots saved.
	Written int64
	// Failed counts failed write attempts (each one is logged).
	Failed int64
	// GaveUp counts snapshots dropped after their last failed attempt.
	GaveUp int64
	// Dropped counts snapshots refused because the queue was full.
	Dropped int64
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	n := len(w.pending)
	w.mu.Unlock()
	return WriterStats{Pending: n, Written: w.written.Load(), Failed: w.failed.Load(), GaveUp: w.gaveUp.Load(), Dropped: w.dropped.Load()}
}

// Enqueue schedules s to be saved and returns at once. It replaces a
// waiting snapshot of the same stream when s is not older. It returns false
// when s was dropped because the queue is full or s is older than the
// snapshot already waiting.
func (w *Writer) Enqueue(s Snapshot) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.pending[s.StreamID]; ok {
		if s.Version < e.snap.Version {
			return false
		}
		e.snap, e.attempts = s, 0
		e.seq++
		return true
	}
	if len(w.pending) >= w.opts.QueueSize {
		n := w.dropped.Add(1)
		w.observeDrop(s)
		now := time.Now().UnixNano()
		if last := w.lastDropLog.Load(); now-last >= int64(dropLogInterval) && w.lastDropLog.CompareAndSwap(last, now) {
			w.opts.Logger.Warn("snapshot: write queue full, snapshot dropped; the aggregate will replay more events until the next snapshot",
				slog.String("stream", s.StreamID), slog.Int64("version", s.Version), slog.Int("queue_size", w.opts.QueueSize),
				slog.Int64("dropped_total", n))
		}
		return false
	}
	if len(w.pending) == 0 {
		w.empty = make(chan struct{})
	}
	w.pending[s.StreamID] = &entry{snap: s, queued: true}
	w.schedule(s.StreamID)
	return true
}

// schedule puts id on the ready list and makes sure a worker runs. w.mu is
// held.
func (w *Writer) schedule(id string) {
	w.ready = append(w.ready, id)
	if !w.running {
		w.running = true
		go w.run()
	}
}

func (w *Writer) run() {
	for {
		w.mu.Lock()
		if len(w.ready) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		id := w.ready[0]
		w.ready[0] = ""
		w.ready = w.ready[1:]
		e := w.pending[id]
		e.queued = false
		snap, seq := e.snap, e.seq
		w.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteTimeout)
		var start time.Time
		if w.obs != nil {
			start = time.Now()
		}
		err := w.store.Save(ctx, snap)
		cancel()

		if w.obs != nil {
			w.mu.Lock()
			gaveUp := err != nil && e.seq == seq && e.attempts+1 >= w.opts.Attempts
			w.mu.Unlock()
			w.observeSave(snap, start, err, gaveUp)
		}
		w.mu.Lock()
		switch {
		case err == nil:
			w.written.Add(1)
			if e.seq == seq {
				w.remove(id)
			} else {
				e.queued = true
				w.ready = append(w.ready, id)
			}
		case e.seq != seq: // replaced by a newer snapshot while writing: write that
			w.failed.Add(1)
			e.queued = true
			w.ready = append(w.ready, id)
		default:
			w.failed.Add(1)
			e.attempts++
			if e.attempts >= w.opts.Attempts {
				w.gaveUp.Add(1)
				w.remove(id)
				w.opts.Logger.Error("snapshot: write failed, giving up; events are stored, loads replay them until the next snapshot",
					slog.String("stream", id), slog.Int64("version", snap.Version), slog.Int("attempts", e.attempts), slog.Any("error", err))
				break
			}
			d := w.backoff(e.attempts)
			w.opts.Logger.Warn("snapshot: write failed, will retry",
				slog.String("stream", id), slog.Int64("version", snap.Version), slog.Int("attempt", e.attempts),
				slog.Duration("retry_in", d), slog.Any("error", err))
			time.AfterFunc(d, func() {
				w.mu.Lock()
				defer w.mu.Unlock()
				if w.pending[id] == e && !e.queued {
					e.queued = true
					w.schedule(id)
				}
			})
		}
		w.mu.Unlock()
	}
}

// remove forgets id's entry. w.mu is held.
func (w *Writer) remove(id string) {
	delete(w.pending, id)
	if len(w.pending) == 0 && w.empty != nil {
		close(w.empty)
		w.empty = nil
	}
}

func (w *Writer) backoff(attempt int) time.Duration {
	ceil := w.opts.RetryBase << min(attempt-1, 20)
	if ceil > w.opts.RetryMax || ceil <= 0 {
		ceil = w.opts.RetryMax
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

// Flush waits until every snapshot enqueued so far has been written or
// given up, or until ctx is done (then it returns ctx.Err()). Snapshots
// waiting for a retry are waited for too.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	ch := w.empty
	w.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
