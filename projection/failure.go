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
}

// Send stores the letter.
func (m *MemoryDeadLetters) Send(_ context.Context, l Letter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.letters = append(m.letters, l)
	return nil
}

// Parked returns the streams with letters of projection and the lowest
// version of each that was dead-lettered.
func (m *MemoryDeadLetters) Parked(_ context.Context, projection string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int64{}
	for _, l := range m.letters {
		if l.Projection != projection {
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
