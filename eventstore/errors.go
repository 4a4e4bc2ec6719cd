package eventstore

import (
	"errors"
	"fmt"
)

var (
	// ErrConcurrencyConflict means the stream did not have the expected
	// version: another writer appended first. Reload the aggregate and
	// retry the command. Errors matching it are [*ConflictError].
	ErrConcurrencyConflict = errors.New("eventstore: concurrency conflict")

	// ErrStreamNotFound means the stream has no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")

	// ErrInvalidArgument means the call itself was wrong (an empty stream
	// ID, no events, an event without a type, an invalid expected
	// version). The wrapping error says what to change.
	ErrInvalidArgument = errors.New("eventstore: invalid argument")

	// ErrDuplicateEventID means some of the appended event IDs are already
	// in the stream, but not as the same complete append at the expected
	// place, so the append can be neither written nor treated as an
	// idempotent repeat. Use fresh IDs for new events.
	ErrDuplicateEventID = errors.New("eventstore: duplicate event ID")

	// ErrUnknownOutcome means the store could not learn whether an append
	// was written (its commit was sent, but the answer was lost). All of
	// its events were written, or none. Retry the append with the same
	// event IDs: a store with idempotent appends turns the retry into a
	// no-op that returns the first attempt's result if it was written.
	// Every other error of Append means that nothing was written.
	//
	// A store that reported an unknown outcome keeps reporting it for a
	// retry with the same event IDs until it learns the first attempt's
	// fate: a retry that fails without proving that the first attempt was
	// not written (for example because a broker is still away) returns an
	// error matching ErrUnknownOutcome again, never one that says nothing
	// was written. A conflict or a duplicate-ID error returned to such a
	// retry is proof: the store saw what decided the first attempt.
	ErrUnknownOutcome = errors.New("eventstore: append outcome unknown")

	// ErrUnavailable means the store could not do what was asked now, for
	// reasons that pass: a broker or the transaction coordinator is away,
	// or records of another writer's transaction are still undecided (a
	// writer that died with its transaction open holds them until the
	// broker aborts it, after the transaction timeout). Nothing was
	// written (for an append) and nothing wrong was returned (for a read:
	// a read that cannot confirm that it reached every append
	// acknowledged before it started fails with it rather than return a
	// stream that may be short). Retry after a pause; aggregate.Repository
	// retries it (WithRetry). The wrapping error says what was unavailable.
	ErrUnavailable = errors.New("eventstore: temporarily unavailable; retry later")

	// ErrClosed means the store was closed.
	ErrClosed = errors.New("eventstore: store closed")

	// ErrCorruptLog means the store met data it cannot interpret as an
	// event of this library (a foreign record, a malformed header). The
	// wrapping error names where it is.
	ErrCorruptLog = errors.New("eventstore: corrupt log")
)

// ConflictError is the error returned when an append's expected version
// does not hold. It matches [ErrConcurrencyConflict] with errors.Is.
type ConflictError struct {
	// StreamID is the stream of the append.
	StreamID string
	// Expected is what the append expected.
	Expected ExpectedVersion
	// Actual is the stream's version when the append was checked. It is -1
	// when the store could not tell (for example when a concurrent writer
	// won a race the store detected after writing).
	Actual int64
}

// Error describes the conflict.
func (e *ConflictError) Error() string {
	actual := fmt.Sprint(e.Actual)
	if e.Actual < 0 {
		actual = "unknown (a concurrent append won, or another writer's transaction on the stream is still undecided)"
	}
	return fmt.Sprintf("eventstore: concurrency conflict on stream %q: expected version %s, actual %s; reload and retry",
		e.StreamID, e.Expected, actual)
}

// Is makes errors.Is(err, ErrConcurrencyConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConcurrencyConflict }

// invalid wraps ErrInvalidArgument with a description of what to change.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}
