package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

const (
	// restartAppendTimeout is the stores' WithAppendTimeout in the restart
	// test.
	restartAppendTimeout = 4 * time.Second
	// restartHangSlack is how far past restartAppendTimeout an Append may
	// return before the test calls it a hang. An Append whose transaction
	// is being committed when its timeout expires waits for the commit's
	// outcome (see kafka.WithAppendTimeout), and a commit to a broker that
	// just went away ends only when sarama's retries give up: that took up
	// to ~10s on a loaded 2-core machine. The slack is generous so that load
	// does not fail the test; an Append stuck on a dead broker's connection
	// (sarama's read timeout is 30s) or for good still exceeds it. Appends
	// slower than the timeout are logged.
	restartHangSlack = 20 * time.Second
)

// restartWriter appends to its own streams and records what happened. It is
// the only writer of its streams, so it knows their versions: an append
// with an unknown outcome (the broker went away) is retried with the same
// event IDs and expected version until it is acknowledged, as the store
// documents (the retry is idempotent). Any other failed append promises
// that nothing was written; it is retried with new events (unless an
// earlier attempt's outcome was unknown), and the journal checks that none
// of its events became visible. A conflict is checked by reading the
// stream: if the stream is still at the expected version, the conflict was
// spurious (DESIGN.md: leftovers of an aborted transaction may cause one,
// and a retry after catch-up clears it) and the append is retried with new
// events; anything else is an error of the store.
type restartWriter struct {
	name    string
	store   *kafka.Store
	streams []string

	mu        sync.Mutex
	acked     int       // acknowledged appends
	failures  int       // appends that returned an error
	lastErr   error     // the last such error
	lastOK    time.Time // when the last acknowledged append returned
	lastFail  time.Time // when the last failed append returned
	inAppend  time.Time // when the running Append started (zero if none)
	longest   time.Duration
	hangs     []string
	slow      []string // appends that took over a second past the timeout
	conflicts []string // conflicts that were not spurious
	spurious  int      // conflicts while the stream was at the expected version
}

func (w *restartWriter) run(ctx context.Context, j *logcheck.Journal) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	versions := make([]int64, len(w.streams))
	for ctx.Err() == nil {
		i := rng.IntN(len(w.streams))
		stream := w.streams[i]
		evs, ids := newEvents(1+rng.IntN(2), w.name)
		expected := eventstore.Exact(versions[i])
		var history []string // earlier attempts of this append, for messages
		// unknown is set once an attempt's outcome was unknown: its events
		// may be in the log, so every later attempt keeps their IDs (the
		// store recognises a repeat), and a later attempt's error, which
		// only promises that that attempt wrote nothing, says nothing
		// about them (the journal holds such attempts as unknown too).
		unknown := false
		for ctx.Err() == nil {
			start := time.Now()
			w.mu.Lock()
			w.inAppend = start
			w.mu.Unlock()
			// No deadline of our own: the store's append timeout must end
			// the call.
			res, err := w.store.Append(context.Background(), stream, expected, evs...)
			end := time.Now()
			took := end.Sub(start)
			out := classify(err)
			// Every error but kafka.ErrUnknownOutcome promises that
			// nothing was written: the journal checks that none of the
			// append's events is visible, and the writer retries with new
			// events.
			notWritten := out == logcheck.Failed && !errors.Is(err, eventstore.ErrConcurrencyConflict)
			journal := out
			if unknown && out == logcheck.Failed {
				journal = logcheck.Unknown
			}
			unknown = unknown || out == logcheck.Unknown
			j.Add(logcheck.Append{Writer: w.name, Stream: stream, IDs: ids, Outcome: journal, Version: res.Version, Positions: res.Positions, Err: err})

			w.mu.Lock()
			w.inAppend = time.Time{}
			w.longest = max(w.longest, took)
			if took > restartAppendTimeout+time.Second && len(w.slow) < 3 {
				w.slow = append(w.slow, fmt.Sprintf("append to %s took %v, returned %v", stream, took.Round(time.Millisecond), err))
			}
			if took > restartAppendTimeout+restartHangSlack {
				w.hangs = append(w.hangs, fmt.Sprintf("append to %s took %v (append timeout %v), returned %v", stream, took.Round(time.Millisecond), restartAppendTimeout, err))
			}
			switch out {
			case logcheck.Acked:
				w.acked++
				w.lastOK = end
			case logcheck.Failed:
				if notWritten {
					w.failures++
					w.lastErr = err
					w.lastFail = end
				}
				// conflicts are handled below, after reading the stream
			default:
				w.failures++
				w.lastErr = err
				w.lastFail = end
			}
			w.mu.Unlock()

			if out == logcheck.Acked {
				versions[i] = res.Version
				break
			}
			history = append(history, fmt.Sprintf("%v after %v: %v", ids, took.Round(time.Millisecond), err))
			if notWritten {
				if !unknown {
					evs, ids = newEvents(len(evs), w.name)
				}
			} else if out == logcheck.Failed {
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				v, rerr := streamVersion(rctx, w.store, stream)
				cancel()
				if rerr == nil && v != versions[i] {
					// Nobody else writes this stream and an unknown outcome
					// is retried with the same IDs: the retry was not
					// idempotent, or the store lost track of the version.
					w.mu.Lock()
					w.conflicts = append(w.conflicts, fmt.Sprintf("append of %v to %s at %v: %v; the stream is at version %d; all attempts of this append: %q", ids, stream, expected, err, v, history))
					w.mu.Unlock()
					versions[i] = v
					break
				}
				if rerr == nil {
					w.mu.Lock()
					w.spurious++
					w.mu.Unlock()
				}
				// A conflict promises that nothing was written: retry with
				// new events, as a repository re-running its command would
				// (the journal holds the refused IDs as failed), unless an
				// earlier attempt's outcome was unknown.
				if !unknown {
					evs, ids = newEvents(len(evs), w.name)
				}
			}
			select { // the broker is away: do not spin
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// restartState is a snapshot of a writer's counters.
type restartState struct {
	acked, failures  int
	spurious         int
	lastOK, lastFail time.Time
	lastErr          error
	stuckFor         time.Duration
}

func (w *restartWriter) state() restartState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := restartState{acked: w.acked, failures: w.failures, spurious: w.spurious, lastOK: w.lastOK, lastFail: w.lastFail, lastErr: w.lastErr}
	if !w.inAppend.IsZero() {
		st.stuckFor = time.Since(w.inAppend)
	}
	return st
}

// waitAll polls until cond holds for every writer or the timeout passes; it
// returns the names and states of the writers for which it does not hold.
func waitAll(ws []*restartWriter, timeout time.Duration, cond func(restartState) bool) []string {
	deadline := time.Now().Add(timeout)
	for {
		var bad []string
		for _, w := range ws {
			if st := w.state(); !cond(st) {
				bad = append(bad, fmt.Sprintf("%s (acked %d, failed %d, spurious conflicts %d, in Append for %v, last error: %v)", w.name, st.acked, st.failures, st.spurious, st.stuckFor.Round(time.Millisecond), st.lastErr))
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			return bad
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restartSubscriber follows the topic with Subscribe across the broker
// restarts like a projection runner: when the subscription ends with an
// error it subscribes again from its checkpoint.
type restartSubscriber struct {
	mu      sync.Mutex
	events  []eventstore.RecordedEvent
	errs    int
	lastErr error
}

func (r *restartSubscriber) run(ctx context.Context, s eventstore.Store) {
	var cp eventstore.Checkpoint
	for ctx.Err() == nil {
		for ev, err := range s.Subscribe(ctx, cp) {
			if err != nil {
				if ctx.Err() == nil {
					r.mu.Lock()
					r.errs++
					r.lastErr = err
					r.mu.Unlock()
				}
				break
			}
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
			cp = cp.Advance(ev.Position)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// seen returns the IDs of the events the subscriber received, by stream.
func (r *restartSubscriber) seen() (map[string][]string, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string][]string{}
	for _, ev := range r.events {
		if strings.HasPrefix(ev.StreamID, logcheck.EndStreamPrefix) {
			continue // written by logcheck.ReadCommitted, not by the writers
		}
		m[ev.StreamID] = append(m[ev.StreamID], ev.ID)
	}
	return m, r.errs, r.lastErr
}

// waitWriters waits for the writers to return after they were told to stop,
// and fails the test, naming the writers stuck in Append, if they do not
// return in time (rather than letting the test binary time out).
func waitWriters(t *testing.T, wg *sync.WaitGroup, ws []*restartWriter) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(restartAppendTimeout + restartHangSlack + 10*time.Second):
		var stuck []string
		for _, w := range ws {
			if st := w.state(); st.stuckFor > 0 {
				stuck = append(stuck, fmt.Sprintf("%s (in Append for %v)", w.name, st.stuckFor.Round(time.Millisecond)))
			}
		}
		t.Fatalf("writers did not return after they were stopped: %s", strings.Join(stuck, "; "))
	}
}

// TestRealBrokerRestartDuringAppends stops the real broker while two store
// instances (separate clients) append, first cleanly and then with SIGKILL,
// and starts it again each time. While the broker is down every Append must
// return an error within the append timeout (no hang); after the restart
// appends must succeed again without reopening the stores; and afterwards a
// plain read_committed consumer must find every acknowledged append exactly
// once, streams with versions 1..n without gap or duplicate, and every
// append whose outcome was unknown all there or not at all. A fresh store
// must load every stream as the log holds it, and a subscriber that read
// along the whole time (on a third instance, resubscribing from its
// checkpoint after errors) must have received exactly the log.
//
// It needs the broker of scripts/kafka-broker.sh (KAFKAES_BROKER_CTL) and
// skips otherwise.
func TestRealBrokerRestartDuringAppends(t *testing.T) {
	ctl := kafkatest.RequireBrokerCtl(t)
	t0 := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("[%5.1fs] "+format, append([]any{time.Since(t0).Seconds()}, args...)...)
	}
	const (
		partitions = 3
		instances  = 2
		writers    = 3 // per instance
		perWriter  = 2 // streams per writer
	)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, partitions, kafkatest.EventsTopicConfig())

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var ws []*restartWriter
	var allStreams []string
	// Every transaction step of the writing stores, printed if the test
	// fails.
	var trace traceLog
	defer func() {
		if t.Failed() {
			trace.dump(t)
		}
	}()
	for i := range instances {
		s := openStressStore(t, c, topic,
			kafka.WithAppendTimeout(restartAppendTimeout),
			kafka.WithTransactionTimeout(5*time.Second),
			kafka.WithTestTrace(trace.add(t0, fmt.Sprintf("store%d", i))))
		for k := range writers {
			w := &restartWriter{name: fmt.Sprintf("store%d/writer%d", i, k), store: s}
			for n := range perWriter {
				w.streams = append(w.streams, fmt.Sprintf("restart-%d-%d-%d", i, k, n))
			}
			allStreams = append(allStreams, w.streams...)
			ws = append(ws, w)
		}
	}

	// A subscriber on a store instance of its own reads along the whole
	// time and must end up with exactly the log, resubscribing from its
	// checkpoint when the broker goes away.
	var sub restartSubscriber
	subStore := openStressStore(t, c, topic)
	sctx, stopSub := context.WithCancel(ctx)
	subDone := make(chan struct{})
	go func() { defer close(subDone); sub.run(sctx, subStore) }()
	defer func() { stopSub(); <-subDone }()

	logf("stores open")
	var (
		j  logcheck.Journal
		wg sync.WaitGroup
	)
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	for _, w := range ws {
		wg.Go(func() { w.run(wctx, &j) })
	}

	if bad := waitAll(ws, time.Minute, func(st restartState) bool { return st.acked >= 3 }); len(bad) > 0 {
		stopWriters()
		waitWriters(t, &wg, ws)
		t.Fatalf("appends did not get going before the broker was stopped: %s", strings.Join(bad, "; "))
	}

	logf("writers going")
	for _, down := range []struct {
		name string
		do   func(context.Context) error
	}{{"stop (SIGTERM)", ctl.Stop}, {"kill (SIGKILL)", ctl.Kill}} {
		if err := down.do(ctx); err != nil {
			t.Fatalf("%s: %v", down.name, err)
		}
		stopped := time.Now()
		logf("broker down (%s)", down.name)
		// Every writer must see an Append fail after the broker went away,
		// and none may stay in Append past the timeout.
		bad := waitAll(ws, restartAppendTimeout+restartHangSlack+5*time.Second, func(st restartState) bool {
			return st.lastFail.After(stopped)
		})
		if len(bad) > 0 {
			t.Errorf("after %s: no Append returned an error within %v for: %s", down.name, restartAppendTimeout+restartHangSlack+5*time.Second, strings.Join(bad, "; "))
		} else {
			var sample error
			for _, w := range ws {
				if st := w.state(); st.lastErr != nil {
					sample = st.lastErr
					break
				}
			}
			logf("after %s: every writer saw an Append fail within %v; for example: %v", down.name, time.Since(stopped).Round(time.Millisecond), sample)
		}

		if err := ctl.Start(ctx); err != nil {
			t.Fatalf("start after %s: %v", down.name, err)
		}
		started := time.Now()
		logf("broker started again")
		bad = waitAll(ws, 2*time.Minute, func(st restartState) bool { return st.lastOK.After(started) })
		if len(bad) > 0 {
			stopWriters()
			waitWriters(t, &wg, ws)
			t.Fatalf("after %s and start: appends did not resume within 2m for: %s", down.name, strings.Join(bad, "; "))
		}
		logf("after %s and start: every writer appended again within %v", down.name, time.Since(started).Round(time.Millisecond))
	}

	// Let the writers go on a little on the restarted broker, then stop.
	time.Sleep(500 * time.Millisecond)
	stopWriters()
	waitWriters(t, &wg, ws)
	for _, w := range ws {
		_ = w.store.Close()
	}

	var acked, failures, spurious int
	var longest time.Duration
	for _, w := range ws {
		w.mu.Lock()
		acked += w.acked
		failures += w.failures
		spurious += w.spurious
		longest = max(longest, w.longest)
		for _, h := range w.hangs {
			t.Errorf("%s: hang: %s", w.name, h)
		}
		for _, sl := range w.slow {
			logf("%s: slower than the append timeout: %s", w.name, sl)
		}
		for _, cf := range w.conflicts {
			t.Errorf("%s: unexpected conflict: %s", w.name, cf)
		}
		w.mu.Unlock()
	}
	logf("%d acknowledged appends, %d failed appends (retried with the same event IDs), %d spurious conflicts (retried with new events); longest Append %v (timeout %v)",
		acked, failures, spurious, longest.Round(time.Millisecond), restartAppendTimeout)
	if failures == 0 {
		t.Fatal("no Append failed while the broker was down; the test proves nothing")
	}
	settled, hanging := trace.count("settle ["), trace.count("without its transaction marker")
	logf("records Kafka left without a transaction marker: settled %d times before a transaction, found %d times by a conflict scan", settled, hanging)
	for _, line := range trace.matching("settle", "without its transaction marker") {
		logf("%s", line)
	}

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	if err != nil {
		t.Fatal(err)
	}
	logf("whole log read with a plain consumer")
	r := logcheck.Check(log, partitions, j.Appends())
	logf("log: %d events in %d streams", r.Events, r.Streams)
	for _, p := range r.Problems {
		t.Error(p)
	}

	// A new instance builds its index from the log and loads every stream
	// exactly as the plain consumer saw it.
	fresh := openStressStore(t, c, topic)
	logf("fresh store open")
	want := map[string][]string{}
	for _, ev := range log {
		want[ev.StreamID] = append(want[ev.StreamID], ev.ID)
	}
	sort.Strings(allStreams)
	for _, stream := range allStreams {
		var got []string
		for ev, err := range fresh.ReadStream(ctx, stream, 1) {
			if err != nil {
				if !errors.Is(err, eventstore.ErrStreamNotFound) || len(want[stream]) > 0 {
					t.Errorf("fresh store: read %s: %v", stream, err)
				}
				break
			}
			got = append(got, ev.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[stream]) {
			t.Errorf("fresh store loads stream %s as %d events, the log holds %d", stream, len(got), len(want[stream]))
		}
	}

	// The subscriber must deliver every event of the log exactly once, in
	// stream order, although the broker went away twice.
	var subErrs int
	var subLast error
	deadline := time.Now().Add(time.Minute)
	for {
		got, n, last := sub.seen()
		subErrs, subLast = n, last
		same := len(got) == len(want)
		for stream, ids := range want {
			same = same && fmt.Sprint(got[stream]) == fmt.Sprint(ids)
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			for stream := range got {
				if _, ok := want[stream]; !ok {
					t.Errorf("subscriber: received %d events of stream %s, which the log does not hold", len(got[stream]), stream)
				}
			}
			for stream, ids := range want {
				if fmt.Sprint(got[stream]) != fmt.Sprint(ids) {
					g := got[stream]
					i := 0
					for i < len(g) && i < len(ids) && g[i] == ids[i] {
						i++
					}
					t.Errorf("subscriber: stream %s: received %d events, the log holds %d; they differ from the %d. on (received %v, the log %v); resubscribed %d times after errors, the last: %v",
						stream, len(g), len(ids), i+1, g[i:min(i+3, len(g))], ids[i:min(i+3, len(ids))], subErrs, subLast)
				}
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("subscriber: resubscribed %d times after errors; last error: %v", subErrs, subLast)
}
