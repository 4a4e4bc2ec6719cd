package kafka

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// States of an append request. The caller may cancel it while it is queued
// or claimed; once a worker has moved it to committing, the caller waits
// for the outcome, so that an append that returned an error never becomes
// visible later.
const (
	stateQueued int32 = iota
	stateClaimed
	stateCommitting
	stateCancelled
)

// maxAttempts bounds how often an append is put into a new transaction
// because another append of its group failed.
const maxAttempts = 8

type appendReq struct {
	ctx      context.Context
	stream   string
	part     int32
	expected eventstore.ExpectedVersion
	events   []eventstore.Event
	enqueued time.Time
	// notBefore delays a retry after a conflict that was not real (an
	// open or aborted transaction of another writer), giving it time to end.
	notBefore time.Time
	state     atomic.Int32
	attempts  int
	// waits counts the transactions an Any append left because their
	// conflict scan met undecided records of its stream (process.go's
	// scan): they use up no attempts.
	waits int
	done  chan appendOutcome

	// Set by the worker for one attempt.
	base      int64 // the stream's version before the append
	xsnap     int64 // the partition's catch-up offset at the version check
	lastKnown int64 // the stream's last indexed offset at the version check
	msgs      []*sarama.ProducerMessage
	// upper is where the conflict scan of the stream stops: the first
	// offset of msgs, or for a condition of a multi-stream append (no
	// msgs) the partition's high watermark after the produce.
	upper int64
	// multi is the multi-stream append r is an entry of (multi.go).
	multi *multiReq
	// recreate allows the append to recreate a deleted stream; marker is
	// the lifecycle marker the append writes (lifecycle.go), if any.
	recreate bool
	marker   eventstore.Marker

	outcome atomic.Int32 // set by finish, read by observers (observe.go)

	// doubt is an earlier append with some of the same event IDs whose
	// outcome the store reported as unknown (unknown.go); proven is set
	// when the version check saw another event at the version that append
	// would have taken (a conflict then proves it was not written).
	doubt  *doubt
	proven atomic.Bool
	// solo puts the append in a group of its own (dispatcher only, set by
	// its worker before it hands it back): its conflict scan met records
	// of another writer that were not decided yet.
	solo bool
	// inSolo is set by the dispatcher when it hands the append to a
	// worker in a group of its own.
	inSolo bool
}

// delay holds r back from the dispatcher before its next attempt, after
// n earlier ones met records not decided yet: 1ms doubling up to 64ms.
func (r *appendReq) delay(n int) {
	r.notBefore = time.Now().Add(time.Millisecond << min(n, 6))
}

type appendOutcome struct {
	res eventstore.AppendResult
	err error
}

func (r *appendReq) finish(res eventstore.AppendResult, err error) {
	select {
	case r.done <- appendOutcome{res, err}:
		if err != nil {
			r.outcome.Store(outcomeFailed)
		} else {
			r.outcome.Store(outcomeOK)
		}
	default: // already finished
	}
}

type finished struct {
	streams []string
	callers int // the appends (callers) of the group
	retry   []*appendReq
	solo    bool // the group was a solo one
}

// groupCommit batches concurrent appends into transactions. One dispatcher
// goroutine owns the queue; each worker owns one transactional producer, so
// up to len(workers) transactions are in flight at once. The dispatcher
// never lets two appends to the same stream be in flight together, so a
// store never races itself.
type groupCommit struct {
	s        *Store
	queue    chan *appendReq
	fin      chan finished
	work     chan []*appendReq
	stop     chan struct{}
	stopped  chan struct{}
	workers  []*worker
	workerWG sync.WaitGroup

	// returning is the number of appends the last finished group
	// completed, returnedAt when (dispatcher goroutine only).
	returning  int
	returnedAt time.Time
	// soloInflight is the number of solo groups in flight (appends whose
	// scan met undecided records of another writer, each in a transaction
	// of its own): they do not count as in-flight groups that a new group
	// should wait for (dispatcher goroutine only).
	soloInflight int
}

// returnLinger is how long the dispatcher waits, after a group finished,
// for its callers' next appends before it starts a group with fewer
// appends than that group had (only without WithGroupCommit's linger).
// Waiting for all of them rather than half gave about 8% more throughput
// with 64 appenders on kfake (BENCHMARKS.md); an uncontended append never
// waits (a group of one is always matched).
const returnLinger = 200 * time.Microsecond

// minParallel is the fewest queued appends for which the dispatcher starts
// a group while another is in flight.
const minParallel = 32

func newGroupCommit(ctx context.Context, s *Store) (*groupCommit, error) {
	g := &groupCommit{
		s:       s,
		queue:   make(chan *appendReq, 1024),
		fin:     make(chan finished, s.opts.producers),
		work:    make(chan []*appendReq),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := s.opts.compression.apply(s.cfg); err != nil {
		return nil, err
	}
	for i := range s.opts.producers {
		w := &worker{s: s, id: fmt.Sprintf("%s-%d", s.opts.txnPrefix, i)}
		if err := w.ensureProducer(); err != nil {
			for _, w := range g.workers {
				w.closeProducer()
			}
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			w.closeProducer()
			for _, w := range g.workers {
				w.closeProducer()
			}
			return nil, err
		}
		g.workers = append(g.workers, w)
	}
	for _, w := range g.workers {
		g.workerWG.Add(1)
		go func() {
			defer g.workerWG.Done()
			defer w.shutdown()
			tick := time.NewTicker(idleSettleEvery)
			defer tick.Stop()
			for {
				var batch []*appendReq
				select {
				case b, ok := <-g.work:
					if !ok {
						return
					}
					batch = b
				case <-tick.C:
					w.settleIdle()
					continue
				}
				var start time.Time
				if s.opts.hooks.Batch != nil {
					start = time.Now()
				}
				var retry []*appendReq
				if m := batch[0].multi; m != nil {
					retry = w.processMulti(m)
				} else {
					retry = w.process(batch)
				}
				if h := s.opts.hooks.Batch; h != nil {
					s.observeBatch(h, batch, retry, time.Since(start))
				}
				streams := make([]string, len(batch))
				for i, r := range batch {
					streams[i] = r.stream
				}
				callers := len(batch)
				if batch[0].multi != nil {
					callers = 1 // one multi-stream append
				}
				g.fin <- finished{streams: streams, callers: callers, retry: retry, solo: batch[0].inSolo}
			}
		}()
	}
	go g.dispatch()
	return g, nil
}

func (g *groupCommit) close() error {
	close(g.stop)
	<-g.stopped
	g.workerWG.Wait()
	return nil
}

// dispatch is the dispatcher loop.
func (g *groupCommit) dispatch() {
	defer close(g.stopped)
	var (
		pending  []*appendReq
		inflight = map[string]bool{}
		idle     = len(g.workers)
		stopping bool
		timer    *time.Timer
		timerAt  time.Time
		timerC   <-chan time.Time
	)
	closedErr := fmt.Errorf("%w: the kafka store was closed before the append was written", eventstore.ErrClosed)
	for {
		if stopping {
			for _, r := range pending {
				r.finish(eventstore.AppendResult{}, closedErr)
			}
			pending = nil
			if idle == len(g.workers) {
				close(g.work)
				for {
					select {
					case r := <-g.queue:
						r.finish(eventstore.AppendResult{}, closedErr)
					default:
						return
					}
				}
			}
		} else {
			var wait time.Duration
			pending, idle, wait = g.schedule(pending, inflight, idle)
			if at := time.Now().Add(wait); wait > 0 && (timerC == nil || at.Before(timerAt)) {
				if timer != nil {
					timer.Stop()
				}
				timer, timerAt = time.NewTimer(wait), at
				timerC = timer.C
			}
		}
		select {
		case r := <-g.queue:
			pending = append(pending, r)
		case f := <-g.fin:
			idle++
			if f.solo {
				g.soloInflight--
			}
			for _, st := range f.streams {
				delete(inflight, st)
			}
			g.returning, g.returnedAt = f.callers-len(f.retry), time.Now()
			if len(f.retry) > 0 {
				pending = append(f.retry, pending...)
			}
		case <-timerC:
			timerC = nil
		case <-g.stop:
			stopping = true
			g.stop = nil
			if timer != nil {
				timer.Stop()
				timerC = nil
			}
		}
	}
}

// schedule hands batches to idle workers. It returns the requests still
// pending and, when it holds back a small batch to linger, how long to wait.
func (g *groupCommit) schedule(pending []*appendReq, inflight map[string]bool, idle int) ([]*appendReq, int, time.Duration) {
	maxEvents, linger := g.s.opts.maxBatchEvents, g.s.opts.linger
	now := time.Now()
	var backoff time.Duration
	if linger == 0 && idle > 0 && len(pending) < g.returning {
		// The callers of the group that just finished tend to come back
		// at once with their next append: wait a moment for them rather
		// than start a transaction for the first one alone.
		if wait := g.returnedAt.Add(returnLinger).Sub(now); wait > 0 {
			return pending, idle, wait
		}
	}
	if idle+g.soloInflight < len(g.workers) && len(pending) < minParallel {
		// A group is in flight: a second one pays off only when it is
		// not tiny (each transaction has a fixed cost); until then let
		// the queue grow.
		return pending, idle, backoff
	}
	for idle > 0 && len(pending) > 0 {
		var batch []*appendReq
		inBatch := map[string]bool{}
		events, soloBatch, multiBatch := 0, false, false
		rest := pending[:0:0]
		for i, r := range pending {
			if r.state.Load() == stateCancelled {
				continue
			}
			if d := r.notBefore.Sub(now); d > 0 {
				if backoff == 0 || d < backoff {
					backoff = d
				}
				rest = append(rest, pending[i])
				continue
			}
			if m := r.multi; m != nil {
				// A multi-stream append goes in a transaction of its own
				// (multi.go), when none of its streams is in flight.
				if len(batch) > 0 || m.busy(inflight, inBatch) {
					rest = append(rest, pending[i])
					continue
				}
				if !r.state.CompareAndSwap(stateQueued, stateClaimed) {
					continue // cancelled by its caller
				}
				batch = append(batch, m.members...)
				multiBatch = true
				continue
			}
			solo := r.solo || g.s.idx[r.part].isBlocked()
			if events >= maxEvents || inflight[r.stream] || inBatch[r.stream] ||
				(events > 0 && events+len(r.events) > maxEvents) || (solo && len(batch) > 0) || soloBatch || multiBatch {
				rest = append(rest, pending[i])
				continue
			}
			if !r.state.CompareAndSwap(stateQueued, stateClaimed) {
				continue // cancelled by its caller
			}
			batch = append(batch, r)
			soloBatch = solo
			inBatch[r.stream] = true
			events += len(r.events)
		}
		if len(batch) == 0 {
			return rest, idle, backoff
		}
		if linger > 0 && events < maxEvents && !multiBatch {
			if wait := time.Until(batch[0].enqueued.Add(linger)); wait > 0 {
				for _, r := range batch {
					r.state.CompareAndSwap(stateClaimed, stateQueued) // a cancelled one stays cancelled
				}
				return pending, idle, wait
			}
		}
		for _, r := range batch {
			inflight[r.stream] = true
			r.inSolo = soloBatch
		}
		if soloBatch {
			g.soloInflight++
		}
		g.work <- batch
		idle--
		pending = rest
	}
	return pending, idle, backoff
}

// Append appends events to a stream if it matches expected; see
// [eventstore.Store.Append]. Concurrent appends are grouped into shared
// Kafka transactions (see [WithGroupCommit]); the package documentation
// explains how the expected version is enforced across store instances.
// An error wrapping [ErrUnknownOutcome] means the events may or may not
// have been written (retry with the same event IDs); any other error means
// that nothing was written.
func (s *Store) Append(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events ...eventstore.Event) (eventstore.AppendResult, error) {
	if h := s.opts.hooks.Append; h != nil {
		return s.observedAppend(ctx, h, streamID, expected, events)
	}
	return s.doAppend(ctx, streamID, expected, events...)
}

func (s *Store) doAppend(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, events ...eventstore.Event) (eventstore.AppendResult, error) {
	evs, err := eventstore.PrepareAppend(streamID, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	for i := range evs {
		evs[i].Data = append([]byte(nil), evs[i].Data...) // the caller may reuse its buffers
	}
	r := &appendReq{
		stream: streamID, part: wire.PartitionString(streamID, s.nparts),
		expected: expected, events: evs, done: make(chan appendOutcome, 1),
		doubt: s.doubts.lookup(streamID, evs), base: -1,
	}
	res, err := s.await(ctx, r)
	return res, s.judge(r, err)
}

// await queues the append r and waits for its outcome.
func (s *Store) await(ctx context.Context, r *appendReq) (eventstore.AppendResult, error) {
	// what names the append in errors: the stream, or every stream of a
	// multi-stream append (r is its lead entry).
	what := fmt.Sprintf("append to stream %q", r.stream)
	if r.multi != nil {
		what = "multi-stream append to streams " + r.multi.streams()
	}
	if s.opts.readOnly {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %s (nothing was written)", ErrReadOnly, what)
	}
	if s.isClosed() {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %s", eventstore.ErrClosed, what)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("kafka: %s: %w (nothing was written)", what, err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.opts.appendTimeout)
	defer cancel()
	// ctxErr describes why ctx ended: the caller's context, or the
	// store's append timeout (WithAppendTimeout), which means that Kafka
	// did not let the append through in time (retry later).
	ctxErr := func() error {
		if parent.Err() == nil {
			return fmt.Errorf("%w: the append did not get through within the append timeout (%v; WithAppendTimeout): %w", eventstore.ErrUnavailable, s.opts.appendTimeout, ctx.Err())
		}
		return parent.Err()
	}
	r.ctx, r.enqueued = ctx, time.Now()
	select {
	case s.gc.queue <- r:
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("kafka: %s: %w (nothing was written)", what, ctxErr())
	case <-s.closed:
		return eventstore.AppendResult{}, fmt.Errorf("%w: %s", eventstore.ErrClosed, what)
	}
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-s.gc.stopped:
		// The store closed after the append was queued; the dispatcher
		// stops only when no group is in flight, so it was never written.
		if r.state.CompareAndSwap(stateQueued, stateCancelled) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: the kafka store was closed before the append was written", eventstore.ErrClosed)
		}
		out := <-r.done
		return out.res, out.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateCancelled) || r.state.CompareAndSwap(stateClaimed, stateCancelled) {
			return eventstore.AppendResult{}, fmt.Errorf("kafka: %s: %w (nothing was written)", what, ctxErr())
		}
		// Being committing: the outcome is known shortly, unless the
		// broker stopped answering; then say that the outcome is unknown.
		t := time.NewTimer(s.opts.txnTimeout)
		defer t.Stop()
		select {
		case out := <-r.done:
			return out.res, out.err
		case <-t.C:
			return eventstore.AppendResult{}, fmt.Errorf("%w: %s: %w", ErrUnknownOutcome, what, ctx.Err())
		}
	}
}

// ErrUnknownOutcome is wrapped by the error of an Append whose outcome is
// not known: its transaction's commit was sent but Kafka did not report
// the result (the connection broke, the coordinator moved or refused it, or
// the broker did not answer in time). All of its events were written, or
// none; read the stream, or retry with the same event IDs, which the store
// turns into a no-op if the first attempt committed. Every other error of
// Append means that nothing was written.
// It matches [eventstore.ErrUnknownOutcome] with errors.Is.
var ErrUnknownOutcome = fmt.Errorf("kafka: the commit failed and the append may or may not have been written; read the stream, or retry with the same event IDs (the retry is idempotent): %w", eventstore.ErrUnknownOutcome)
