package projection

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// FailureAction is what a runner does with an event whose handler still
// fails after the retries: [Stop], [Skip] or [DeadLetter].
type FailureAction int

const (
	// Stop ends Runner.Run with a *HandlerError; the event is not
	// checkpointed, so the next run starts with it again. The default.
	Stop FailureAction = iota
	// Skip logs the failure and moves on; the event has no effect.
	Skip
	// DeadLetter hands the event to the runner's DeadLetterSink and moves
	// on, parking its stream: the stream's later events follow it to the
	// sink, so they never overtake it.
	DeadLetter
)

// String names the action.
func (a FailureAction) String() string {
	switch a {
	case Stop:
		return "stop"
	case Skip:
		return "skip"
	case DeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("FailureAction(%d)", int(a))
}

var (
	// ErrCheckpointMoved means a checkpoint commit found a stored position
	// other than the one the batch started from: another instance of the
	// projection processed the partition meanwhile. The batch was rolled
	// back; the runner reloads the checkpoint.
	ErrCheckpointMoved = errors.New("projection: checkpoint moved by another instance")

	// ErrParked marks dead letters of events that did not fail themselves
	// but belong to a stream parked by an earlier dead letter.
	ErrParked = errors.New("projection: stream parked after an earlier dead letter")
)

// HandlerError is the error with which Run stops when an event could not
// be handled (policy [Stop]); it says which event and why.
type HandlerError struct {
	// Projection is the runner's name.
	Projection string
	// Meta describes the event.
	Meta Meta
	// Attempts is how often the handler was tried.
	Attempts int
	// Err is the handler's (or decoder's) last error.
	Err error
}

// Error describes the failure and what to do.
func (e *HandlerError) Error() string {
	return fmt.Sprintf("projection %q: event %s (stream %q version %d, position %s, id %s) failed after %d attempt(s): %v; fix the handler or the data and restart, or choose projection.Skip or projection.DeadLetter",
		e.Projection, e.Meta.Type, e.Meta.StreamID, e.Meta.Version, e.Meta.Position, e.Meta.EventID, e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *HandlerError) Unwrap() error { return e.Err }

// Letter is an event handed to a [DeadLetterSink].
type Letter struct {
	// Projection is the runner's name.
	Projection string
	// Record is the record as the source delivered it.
	Record Record
	// Err is why it is dead-lettered: the handler's last error, the
	// decoding error, or an error matching [ErrParked] for events that
	// follow an earlier dead letter of their stream.
	Err error
	// Attempts is how often the handler was tried (0 for parked events
	// and records that could not be decoded).
	Attempts int
	// Time is when it was dead-lettered.
	Time time.Time
}

// DeadLetterSink stores events a projection gave up on.
type DeadLetterSink interface {
	// Send stores the letter durably; an error stops the runner (the
	// event is not checkpointed, so nothing is lost).
	Send(ctx context.Context, l Letter) error
	// Parked returns the streams that have letters of the named
	// projection, each with the lowest version dead-lettered, so that a
	// restarted runner keeps parking their later events.
	Parked(ctx context.Context, projection string) (map[string]int64, error)
}

// MemoryDeadLetters is an in-memory [DeadLetterSink] for tests and
// examples. The zero value is ready to use.
type MemoryDeadLetters struct {
	mu      sync.Mutex
	letters []Letter
	// done marks letters released (retried or dropped); releases are
	// the pending ones, covering the letters of their stream not done
	// when Pending returned them.
	done     map[int]bool
	releases []memRelease
	acted    []ActedRelease
	nextID   int
}

type memRelease struct {
	rel     Release
	covered []int // indexes into letters, set by Pending
}

var _ Releaser = (*MemoryDeadLetters)(nil)

// Release asks for action on the parked stream of projection, as
// `kafkaes dlq retry` and `dlq drop` do for the Kafka dead-letter topic;
// a runner acts on it (see [Releaser]).
func (m *MemoryDeadLetters) Release(projection, stream string, action ReleaseAction, by string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	m.releases = append(m.releases, memRelease{rel: Release{Projection: projection, Stream: stream, Action: action, By: by,
		Time: time.Now().UTC(), ID: fmt.Sprint(m.nextID)}})
}

// Pending implements [Releaser].
func (m *MemoryDeadLetters) Pending(_ context.Context, projection string) ([]Release, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Release
	for i := range m.releases {
		mr := &m.releases[i]
		if mr.rel.Projection != projection {
			continue
		}
		mr.covered = mr.covered[:0]
		mr.rel.Letters = nil
		for j, l := range m.letters {
			if !m.done[j] && l.Projection == projection && l.Record.Event.StreamID == mr.rel.Stream {
				mr.covered = append(mr.covered, j)
				mr.rel.Letters = append(mr.rel.Letters, l)
			}
		}
		out = append(out, mr.rel)
	}
	return out, nil
}

// Acted implements [Releaser].
func (m *MemoryDeadLetters) Acted(_ context.Context, rel Release, err error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, mr := range m.releases {
		if mr.rel.ID != rel.ID {
			continue
		}
		if err == nil {
			if m.done == nil {
				m.done = map[int]bool{}
			}
			for _, j := range mr.covered {
				m.done[j] = true
			}
		}
		m.releases = slices.Delete(m.releases, i, i+1)
		m.acted = append(m.acted, ActedRelease{Release: rel, Err: err})
		return nil
	}
	return fmt.Errorf("projection: release %s of stream %q is not pending", rel.ID, rel.Stream)
}

// ActedRelease is a release a runner acted on, with the error of a retry
// whose letters failed again (nil when it succeeded).
type ActedRelease struct {
	Release Release
	Err     error
}

// ActedOn returns the releases a runner acted on, in order.
func (m *MemoryDeadLetters) ActedOn() []ActedRelease {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.acted)
}

// Send stores the letter.
func (m *MemoryDeadLetters) Send(_ context.Context, l Letter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.letters = append(m.letters, l)
	return nil
}

// Parked returns the streams with letters of projection that were not
// released, and the lowest version of each that was dead-lettered.
func (m *MemoryDeadLetters) Parked(_ context.Context, projection string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int64{}
	for j, l := range m.letters {
		if l.Projection != projection || m.done[j] {
			continue
		}
		ev := &l.Record.Event
		if v, ok := out[ev.StreamID]; !ok || ev.Version < v {
			out[ev.StreamID] = ev.Version
		}
	}
	return out, nil
}

// Letters returns a copy of the stored letters in the order they were sent.
func (m *MemoryDeadLetters) Letters() []Letter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.letters)
}

// backoff returns a full-jitter delay before retry n (0-based).
func backoff(n int, base, maxDelay time.Duration) time.Duration {
	ceil := base << min(n, 20)
	if ceil > maxDelay || ceil <= 0 {
		ceil = maxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return ceil/2 + rand.N(ceil/2+1)
}
