package eventstoretest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Features describes what a store supports beyond the core contract, and
// tunes the suite.
type Features struct {
	// Idempotency enables the checks for idempotent re-appends: the same
	// events with the same IDs appended again succeed without being
	// written twice, and partial overlaps fail with
	// [eventstore.ErrDuplicateEventID].
	Idempotency bool

	// Peer, when set, returns a second, independent store instance on the
	// same log as s (for Kafka: a new client on the same topic). The suite
	// then runs its concurrency and subscription checks across the two
	// instances. Stores returned by Peer are closed with t.Cleanup.
	Peer func(t *testing.T, s eventstore.Store) eventstore.Store

	// Timeout bounds every wait of the suite (for a subscription to
	// deliver an event, for an iterator to stop, for a concurrent test to
	// finish). It only matters when a store misbehaves. The default is 30s.
	Timeout time.Duration

	// Writers is the number of concurrent goroutines in the concurrency
	// checks. The default is 4.
	Writers int

	// Corrupt, when set, writes a record to s's log around the store, as
	// a foreign writer would: an event that claims to be version
	// `version` of stream, where it is not the stream's next version. It
	// returns the record's position. The suite then checks what the store
	// does with a corrupt stream (loads, appends, ReadAll and Subscribe
	// report eventstore.ErrCorruptLog). Nil for a store whose log cannot
	// be written around it (the memory store); the check then skips,
	// saying so.
	Corrupt func(t *testing.T, s eventstore.Store, stream string, version int64) eventstore.Position
}

// Run runs the conformance suite as subtests of t. newStore must return a
// new, empty store for every call (for Kafka: one on a new topic); the suite
// closes every store it gets with t.Cleanup, so stores must tolerate a
// second Close.
func Run(t *testing.T, newStore func(t *testing.T) eventstore.Store, f Features) {
	t.Helper()
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	if f.Writers <= 0 {
		f.Writers = 4
	}
	h := &harness{newStore: newStore, f: f}
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"ExpectedVersion", testExpectedVersion},
		{"ConflictError", testConflictError},
		{"MultiEventAppend", testMultiEventAppend},
		{"BadInput", testBadInput},
		{"Metadata", testMetadata},
		{"Copies", testCopies},
		{"AppendErrorClasses", testAppendErrorClasses},
		{"ReadAfterPeerAppend", testReadAfterPeerAppend},
		{"ReadStream", testReadStream},
		{"ReadStreamMissing", testReadStreamMissing},
		{"ReadAll", testReadAll},
		{"ReadAllCheckpoint", testReadAllCheckpoint},
		{"ReadFilters", testReadFilters},
		{"Subscribe", testSubscribe},
		{"SubscribeFromCheckpoint", testSubscribeFromCheckpoint},
		{"SubscribeBreak", testSubscribeBreak},
		{"SubscribePeer", testSubscribePeer},
		{"SubscribeWhileAppending", testSubscribeWhileAppending},
		{"Idempotency", testIdempotency},
		{"ConcurrentRounds", testConcurrentRounds},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentStreams", testConcurrentStreams},
		{"Cancellation", testCancellation},
		{"CancelDuringRead", testCancelDuringRead},
		{"Close", testClose},
		{"CorruptStream", testCorruptStream},
		{"MultiAppend", testMultiAppend},
		{"MultiAppendConflict", testMultiAppendConflict},
		{"MultiAppendCondition", testMultiAppendCondition},
		{"MultiAppendIdempotency", testMultiAppendIdempotency},
		{"MultiAppendBadInput", testMultiAppendBadInput},
		{"MultiAppendTransfers", testMultiAppendTransfers},
		{"MultiAppendWriteSkew", testMultiAppendWriteSkew},
		{"DeleteStream", testDeleteStream},
		{"TruncateStream", testTruncateStream},
		{"LifecycleBadInput", testLifecycleBadInput},
		{"DeleteRace", testDeleteRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

type harness struct {
	newStore func(t *testing.T) eventstore.Store
	f        Features
}

// open returns a fresh store that is closed when t ends.
func (h *harness) open(t *testing.T) eventstore.Store {
	t.Helper()
	s := h.newStore(t)
	require.NotNil(t, s, "newStore returned nil")
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// peer returns a second instance on s's log, or s itself without Peer.
func (h *harness) peer(t *testing.T, s eventstore.Store) eventstore.Store {
	t.Helper()
	if h.f.Peer == nil {
		return s
	}
	p := h.f.Peer(t, s)
	require.NotNil(t, p, "Features.Peer returned nil")
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// ctx returns a context bounded by the suite's timeout.
func (h *harness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.f.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// ev returns an event of type typ with data.
func ev(typ, data string) eventstore.Event {
	return eventstore.Event{Type: typ, Data: []byte(data)}
}

// evID returns an event with a fixed ID.
func evID(id, typ string) eventstore.Event {
	return eventstore.Event{ID: id, Type: typ, Data: []byte(`{"id":"` + id + `"}`)}
}

// mustAppend appends and checks the result's shape.
func mustAppend(t *testing.T, ctx context.Context, s eventstore.Store, stream string, expected eventstore.ExpectedVersion, wantVersion int64, events ...eventstore.Event) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctx, stream, expected, events...)
	require.NoError(t, err, "Append(%q, expected %s, %d events)", stream, expected, len(events))
	require.Equal(t, wantVersion, res.Version, "Append(%q, expected %s) returned the wrong version", stream, expected)
	require.Len(t, res.Positions, len(events), "AppendResult.Positions must have one position per event")
	for i := 1; i < len(res.Positions); i++ {
		p, q := res.Positions[i-1], res.Positions[i]
		require.Equal(t, p.Partition, q.Partition, "events of one stream must be in one partition: %v", res.Positions)
		require.Less(t, p.Offset, q.Offset, "positions of one append must increase: %v", res.Positions)
	}
	return res
}

// requireConflict checks that err is a conflict for stream with the given
// expectation; actual < -1 skips the check of ConflictError.Actual.
func requireConflict(t *testing.T, err error, stream string, expected eventstore.ExpectedVersion, actual int64) {
	t.Helper()
	require.Error(t, err, "append to %q with expected %s must fail with a conflict", stream, expected)
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict, "got %v", err)
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce, "a conflict must be an *eventstore.ConflictError")
	require.Equal(t, stream, ce.StreamID, "ConflictError.StreamID")
	require.Equal(t, expected, ce.Expected, "ConflictError.Expected")
	if actual >= -1 {
		require.Equal(t, actual, ce.Actual, "ConflictError.Actual")
	}
	require.NotEmpty(t, err.Error())
}

// collect drains seq and returns its events and its error. It fails the test
// if seq yields anything after an error, or does not end within the timeout
// of ctx (it then returns the context error).
func collect(t *testing.T, seq func(func(eventstore.RecordedEvent, error) bool)) ([]eventstore.RecordedEvent, error) {
	t.Helper()
	var (
		out      []eventstore.RecordedEvent
		firstErr error
	)
	for rec, err := range seq {
		if firstErr != nil {
			t.Fatalf("iterator yielded (%v, %v) after the error %v; it must stop at the first error", rec.ID, err, firstErr)
		}
		if err != nil {
			firstErr = err
			continue
		}
		out = append(out, rec)
	}
	return out, firstErr
}

// readStream reads a whole stream, failing on any error.
func readStream(t *testing.T, ctx context.Context, s eventstore.Store, stream string, from int64) []eventstore.RecordedEvent {
	t.Helper()
	recs, err := collect(t, s.ReadStream(ctx, stream, from))
	require.NoError(t, err, "ReadStream(%q, %d)", stream, from)
	return recs
}

// requireVersions checks that recs belong to stream and have the versions
// first, first+1, ... in order.
func requireVersions(t *testing.T, recs []eventstore.RecordedEvent, stream string, first int64, n int) {
	t.Helper()
	require.Len(t, recs, n, "stream %q: wrong number of events: %s", stream, describe(recs))
	for i, r := range recs {
		require.Equal(t, stream, r.StreamID, "event %d", i)
		require.Equal(t, first+int64(i), r.Version, "stream %q: versions must be contiguous and in order: %s", stream, describe(recs))
	}
}

// describe formats events compactly for failure messages.
func describe(recs []eventstore.RecordedEvent) string {
	s := "["
	for i, r := range recs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s@%d(%s)", r.StreamID, r.Version, r.Position)
	}
	return s + "]"
}

// subscription consumes an iterator in a goroutine.
type subscription struct {
	items chan item
	done  chan struct{}
	stop  chan struct{}
}

type item struct {
	rec eventstore.RecordedEvent
	err error
}

// consume starts draining seq. Closing stop makes the consumer break out of
// the loop at the next item.
func consume(seq func(func(eventstore.RecordedEvent, error) bool)) *subscription {
	s := &subscription{items: make(chan item, 1024), done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(s.done)
		for rec, err := range seq {
			select {
			case s.items <- item{rec, err}:
			case <-s.stop:
				return
			}
			select {
			case <-s.stop:
				return
			default:
			}
		}
	}()
	return s
}

// next waits for the next item.
func (s *subscription) next(t *testing.T, timeout time.Duration) item {
	t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case it := <-s.items:
		return it
	case <-s.done:
		select {
		case it := <-s.items:
			return it
		default:
		}
		t.Fatalf("subscription ended without yielding another item")
	case <-tm.C:
		t.Fatalf("no item from the subscription within %v", timeout)
	}
	return item{}
}

// nextEvents waits for n events and fails on an error.
func (s *subscription) nextEvents(t *testing.T, timeout time.Duration, n int) []eventstore.RecordedEvent {
	t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		it := s.next(t, timeout)
		require.NoError(t, it.err, "subscription error after %d of %d events", len(out), n)
		out = append(out, it.rec)
	}
	return out
}

// requireEnds waits for the subscription to stop and returns the last error
// it yielded (nil when it ended without one), failing on further events.
func (s *subscription) requireEnds(t *testing.T, timeout time.Duration) error {
	t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	var last error
	for {
		select {
		case it := <-s.items:
			if it.err == nil {
				t.Fatalf("unexpected event %s@%d while waiting for the subscription to end", it.rec.StreamID, it.rec.Version)
			}
			if last != nil {
				t.Fatalf("subscription yielded error %v after error %v; it must stop at the first error", it.err, last)
			}
			last = it.err
		case <-s.done:
			for {
				select {
				case it := <-s.items:
					if it.err == nil || last != nil {
						t.Fatalf("unexpected item (%s@%d, %v) at the end of the subscription", it.rec.StreamID, it.rec.Version, it.err)
					}
					last = it.err
				default:
					return last
				}
			}
		case <-tm.C:
			t.Fatalf("subscription did not stop within %v", timeout)
		}
	}
}

// requireEndsIgnoringEvents is requireEnds for a subscription that may
// still deliver events before it ends.
func (s *subscription) requireEndsIgnoringEvents(t *testing.T, timeout time.Duration) error {
	t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	var last error
	for {
		select {
		case it := <-s.items:
			if last != nil {
				t.Fatalf("subscription yielded (%s@%d, %v) after error %v; it must stop at the first error", it.rec.StreamID, it.rec.Version, it.err, last)
			}
			last = it.err
		case <-s.done:
			for {
				select {
				case it := <-s.items:
					if last != nil {
						t.Fatalf("subscription yielded (%s@%d, %v) after error %v", it.rec.StreamID, it.rec.Version, it.err, last)
					}
					last = it.err
				default:
					return last
				}
			}
		case <-tm.C:
			t.Fatalf("subscription did not stop within %v", timeout)
		}
	}
}

// requireDone waits until the consumer goroutine has returned, which
// happens only after the iterator function returned.
func (s *subscription) requireDone(t *testing.T, timeout time.Duration) {
	t.Helper()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-s.done:
	case <-tm.C:
		t.Fatalf("the iterator did not return within %v after the consumer broke out of the loop", timeout)
	}
}

// waitABit waits briefly (or until ctx is done) before polling again.
func waitABit(ctx context.Context) {
	tm := time.NewTimer(5 * time.Millisecond)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}
