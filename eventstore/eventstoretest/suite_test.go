package eventstoretest_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/eventstoretest"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// The suite must be able to fail: each broken store below violates one part
// of the contract, and the subtest that covers that part must fail.
// TestBroken runs the suite against them only in a child process started by
// TestSuiteCatchesBrokenStores, so their failures do not fail this package.

const brokenEnv = "EVENTSTORETEST_BROKEN"

type brokenStore struct {
	subtest  string
	features func() eventstoretest.Features
	newStore func(t *testing.T) eventstore.Store
}

// brokenStores maps a broken store to the subtest that must catch it.
func brokenStores() map[string]brokenStore {
	return map[string]brokenStore{
		"NoConflictCheck": {"ExpectedVersion", noFeatures, func(*testing.T) eventstore.Store {
			return noConflictCheck{memory.New()}
		}},
		"StaleConflictCheck": {"ConcurrentRounds", staleFeatures, func(*testing.T) eventstore.Store {
			return newStale(memory.New())
		}},
		"ReadAllIgnoresCheckpoint": {"ReadAllCheckpoint", noFeatures, func(*testing.T) eventstore.Store {
			return ignoreCheckpoint{memory.New()}
		}},
		"SubscribeNotLive": {"Subscribe", noFeatures, func(*testing.T) eventstore.Store {
			return notLive{memory.New()}
		}},
		"IgnoresContext": {"Cancellation", noFeatures, func(*testing.T) eventstore.Store {
			return ignoresCtx{memory.New()}
		}},
		"NotIdempotent": {"Idempotency", idemFeatures, func(*testing.T) eventstore.Store {
			return notIdempotent{memory.New()}
		}},
		"CloseNoop": {"Close", noFeatures, func(*testing.T) eventstore.Store {
			return closeNoop{memory.New()}
		}},
		"DropsMetadata": {"Metadata", noFeatures, func(*testing.T) eventstore.Store {
			return dropsMetadata{memory.New()}
		}},
		"ConflictAlsoUnknown": {"AppendErrorClasses", noFeatures, func(*testing.T) eventstore.Store {
			return conflictAlsoUnknown{memory.New()}
		}},
		"IgnoresFilters": {"ReadFilters", noFeatures, func(*testing.T) eventstore.Store {
			return ignoresFilters{memory.New()}
		}},
		"ShortRead": {"ReadAfterPeerAppend", laggingFeatures, func(*testing.T) eventstore.Store {
			return newLagging(memory.New())
		}},
	}
}

func noFeatures() eventstoretest.Features { return eventstoretest.Features{Timeout: 2 * time.Second} }
func idemFeatures() eventstoretest.Features {
	return eventstoretest.Features{Timeout: 2 * time.Second, Idempotency: true}
}
func staleFeatures() eventstoretest.Features {
	return eventstoretest.Features{Timeout: 2 * time.Second, Peer: func(_ *testing.T, s eventstore.Store) eventstore.Store {
		return newStale(s.(*stale).Store)
	}}
}

func TestBroken(t *testing.T) {
	if os.Getenv(brokenEnv) == "" {
		t.Skip("runs only as a child of TestSuiteCatchesBrokenStores")
	}
	for name, b := range brokenStores() {
		t.Run(name, func(t *testing.T) { eventstoretest.Run(t, b.newStore, b.features()) })
	}
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for name, b := range brokenStores() {
		t.Run(name, func(t *testing.T) {
			pattern := "^TestBroken$/^" + name + "$/^" + b.subtest + "$"
			cmd := exec.Command(os.Args[0], "-test.run", pattern, "-test.v", "-test.timeout", "60s")
			cmd.Env = append(os.Environ(), brokenEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that is broken (%s); subtest %s should have failed:\n%s", name, b.subtest, out)
			}
			want := "--- FAIL: TestBroken/" + name + "/" + b.subtest
			if !strings.Contains(string(out), want) {
				t.Fatalf("want %q in the output:\n%s", want, out)
			}
		})
	}
}

func TestMemoryPassesWithoutPeer(t *testing.T) {
	eventstoretest.Run(t, func(*testing.T) eventstore.Store { return memory.New() }, eventstoretest.Features{})
}

// noConflictCheck ignores the expected version.
type noConflictCheck struct{ *memory.Store }

func (s noConflictCheck) Append(ctx context.Context, id string, _ eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	return s.Store.Append(ctx, id, eventstore.Any, evs...)
}

// stale checks expected versions against its own view of the streams, which
// misses the appends of other instances: the classic lost-update bug of a
// store without a real conditional append.
type stale struct {
	*memory.Store
	mu   sync.Mutex
	seen map[string]int64
}

func newStale(s *memory.Store) *stale { return &stale{Store: s, seen: map[string]int64{}} }

func (s *stale) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	s.mu.Lock()
	v := s.seen[id]
	s.mu.Unlock()
	if exp.Valid() && !exp.Matches(v) {
		return eventstore.AppendResult{}, &eventstore.ConflictError{StreamID: id, Expected: exp, Actual: v}
	}
	res, err := s.Store.Append(ctx, id, eventstore.Any, evs...)
	if err == nil {
		s.mu.Lock()
		s.seen[id] = res.Version
		s.mu.Unlock()
	}
	return res, err
}

// ignoreCheckpoint reads from the beginning whatever the checkpoint.
type ignoreCheckpoint struct{ *memory.Store }

func (s ignoreCheckpoint) ReadAll(ctx context.Context, _ eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	return s.Store.ReadAll(ctx, nil, opts...)
}

// ignoresFilters reads everything whatever the read options.
type ignoresFilters struct{ *memory.Store }

func (s ignoresFilters) ReadAll(ctx context.Context, cp eventstore.Checkpoint, _ ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	return s.Store.ReadAll(ctx, cp)
}

// notLive stops at the end of the log.
type notLive struct{ *memory.Store }

func (s notLive) Subscribe(ctx context.Context, cp eventstore.Checkpoint, opts ...eventstore.ReadOption) iter.Seq2[eventstore.RecordedEvent, error] {
	return s.Store.ReadAll(ctx, cp, opts...)
}

// ignoresCtx does not honour cancellation.
type ignoresCtx struct{ *memory.Store }

func (s ignoresCtx) Append(_ context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	return s.Store.Append(context.Background(), id, exp, evs...)
}

// notIdempotent gives every event a fresh ID.
type notIdempotent struct{ *memory.Store }

func (s notIdempotent) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	fresh := make([]eventstore.Event, len(evs))
	for i, e := range evs {
		e.ID = ""
		fresh[i] = e
	}
	return s.Store.Append(ctx, id, exp, fresh...)
}

// closeNoop does not close.
type closeNoop struct{ *memory.Store }

func (closeNoop) Close() error { return nil }

// dropsMetadata loses the metadata on the way in.
type dropsMetadata struct{ *memory.Store }

func (s dropsMetadata) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	out := make([]eventstore.Event, len(evs))
	for i, e := range evs {
		e.Metadata = eventstore.Metadata{}
		out[i] = e
	}
	return s.Store.Append(ctx, id, exp, out...)
}

// conflictAlsoUnknown returns conflicts that also claim an unknown outcome.
type conflictAlsoUnknown struct{ *memory.Store }

func (s conflictAlsoUnknown) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	res, err := s.Store.Append(ctx, id, exp, evs...)
	if errors.Is(err, eventstore.ErrConcurrencyConflict) {
		err = fmt.Errorf("%w (%w)", err, eventstore.ErrUnknownOutcome)
	}
	return res, err
}

// lagging reads a stream only up to the version it last read or appended
// there (a stale view that misses a peer's appends, without an error).
type lagging struct {
	*memory.Store
	mu   sync.Mutex
	view map[string]int64
}

func newLagging(s *memory.Store) *lagging { return &lagging{Store: s, view: map[string]int64{}} }

func laggingFeatures() eventstoretest.Features {
	return eventstoretest.Features{Timeout: 2 * time.Second, Peer: func(_ *testing.T, s eventstore.Store) eventstore.Store {
		return newLagging(s.(*lagging).Store)
	}}
}

func (s *lagging) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	res, err := s.Store.Append(ctx, id, exp, evs...)
	if err == nil {
		s.mu.Lock()
		s.view[id] = res.Version
		s.mu.Unlock()
	}
	return res, err
}

func (s *lagging) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		s.mu.Lock()
		upTo, ok := s.view[id]
		s.mu.Unlock()
		for ev, err := range s.Store.ReadStream(ctx, id, from) {
			if err == nil && ok && ev.Version > upTo {
				return
			}
			if err == nil && !ok {
				s.mu.Lock()
				s.view[id] = max(s.view[id], ev.Version)
				s.mu.Unlock()
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}
