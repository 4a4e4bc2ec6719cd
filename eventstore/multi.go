package eventstore

import (
	"context"
	"fmt"
	"strings"
)

// StreamAppend is one stream's part of a multi-stream append
// ([MultiAppender.AppendMulti]).
type StreamAppend struct {
	// StreamID is the stream.
	StreamID string
	// Expected is the condition on the stream's version, as for
	// [Store.Append].
	Expected ExpectedVersion
	// Events are appended to the stream, in order. With no events the
	// entry is a condition only: the stream must still match Expected
	// when the append takes effect, and nothing is written to it. Use it
	// for a stream the decision read but does not change ("unchanged
	// since version N": Exact(N)).
	Events []Event
	// Recreate allows the entry to append to a deleted stream
	// ([Lifecycle.DeleteStream]), recreating it; without it such an entry
	// fails with a [*StreamDeletedError]. Expected is checked against the
	// stream's version, which counts the delete marker. On a stream that
	// is not deleted it changes nothing. It needs Events. Default false.
	Recreate bool
}

// MultiAppender is implemented by stores that append to several streams in
// one atomic step. Both stores of this module implement it (memory and
// Kafka); check with a type assertion, or use [AppendMulti], which says so
// clearly when a store does not.
type MultiAppender interface {
	// AppendMulti appends to several streams at once, each entry with its
	// own expected version, all or nothing: either every condition holds
	// and every entry's events are written, visible to readers together
	// (for Kafka: in one transaction, to read_committed readers), or
	// nothing is written. It returns one result per entry, in the order
	// of appends; a condition-only entry's result has the stream's
	// version and no positions.
	//
	// Errors are those of [Store.Append], for the whole call: a failed
	// condition is a [*MultiConflictError] naming every stream whose
	// condition failed (it matches [ErrConcurrencyConflict], and
	// errors.As finds its first [*ConflictError]); [ErrInvalidArgument]
	// for no entries, no entry with events, a stream listed twice, an
	// event ID used twice, or a bad entry. A repeat of an append that was
	// written (every entry's events found with the same IDs at the same
	// place) returns the first attempt's results, as Append does; on
	// Kafka an [ErrUnknownOutcome] covers every entry (all or none was
	// written).
	AppendMulti(ctx context.Context, appends ...StreamAppend) ([]AppendResult, error)
}

// AppendMulti appends atomically to several streams of s; see
// [MultiAppender]. It fails with [ErrInvalidArgument] when s does not
// implement MultiAppender.
func AppendMulti(ctx context.Context, s Store, appends ...StreamAppend) ([]AppendResult, error) {
	m, ok := s.(MultiAppender)
	if !ok {
		return nil, invalid("the store %T cannot append to several streams atomically (it does not implement eventstore.MultiAppender); use the memory or the Kafka store", s)
	}
	return m.AppendMulti(ctx, appends...)
}

// PrepareMulti validates the entries of a multi-stream append and returns
// copies with the events prepared as [PrepareAppend] does (random IDs for
// empty ones). Store implementations call it first.
func PrepareMulti(appends []StreamAppend) ([]StreamAppend, error) {
	if len(appends) == 0 {
		return nil, invalid("a multi-stream append has no entries; pass at least one StreamAppend with events")
	}
	out := make([]StreamAppend, len(appends))
	streams := make(map[string]int, len(appends))
	ids := map[string]string{}
	writes := 0
	for i, a := range appends {
		if j, dup := streams[a.StreamID]; dup {
			return nil, invalid("entries %d and %d of a multi-stream append are both for stream %q; give each stream one entry with all its events", j, i, a.StreamID)
		}
		streams[a.StreamID] = i
		out[i] = StreamAppend{StreamID: a.StreamID, Expected: a.Expected, Recreate: a.Recreate}
		if len(a.Events) == 0 {
			if a.Recreate {
				return nil, invalid("entry %d of a multi-stream append recreates stream %q but has no events; a recreation appends events", i, a.StreamID)
			}
			if err := ValidateStreamID(a.StreamID); err != nil {
				return nil, err
			}
			if !a.Expected.Valid() {
				return nil, invalid("expected version %d of stream %q is not valid; use eventstore.Any, NoStream, StreamExists or Exact(n) with n >= 0", int64(a.Expected), a.StreamID)
			}
			continue
		}
		evs, err := PrepareAppend(a.StreamID, a.Expected, a.Events)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if other, dup := ids[ev.ID]; dup {
				return nil, invalid("event ID %q is used in the entries for streams %q and %q of one multi-stream append; give every event its own ID", ev.ID, other, a.StreamID)
			}
			ids[ev.ID] = a.StreamID
		}
		out[i].Events = evs
		writes++
	}
	if writes == 0 {
		return nil, invalid("no entry of the multi-stream append has events (all %d are conditions); a multi-stream append must write something", len(appends))
	}
	return out, nil
}

// MultiConflictError is the error of a multi-stream append whose
// conditions did not hold: one [*ConflictError] per stream whose condition
// failed, in the order of the entries. It matches [ErrConcurrencyConflict]
// with errors.Is, and errors.As with a *ConflictError finds the first.
type MultiConflictError struct {
	Conflicts []*ConflictError
}

// Error lists the streams whose condition failed.
func (e *MultiConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eventstore: concurrency conflict on %d stream(s) of a multi-stream append, nothing was written:", len(e.Conflicts))
	for i, c := range e.Conflicts {
		if i > 0 {
			b.WriteString(";")
		}
		actual := fmt.Sprint(c.Actual)
		if c.Actual < 0 {
			actual = "unknown (a concurrent append won, or another writer's transaction is still undecided)"
		}
		fmt.Fprintf(&b, " stream %q expected version %s, actual %s", c.StreamID, c.Expected, actual)
	}
	b.WriteString("; reload and retry")
	return b.String()
}

// Is makes errors.Is(err, ErrConcurrencyConflict) true.
func (e *MultiConflictError) Is(target error) bool { return target == ErrConcurrencyConflict }

// Unwrap returns the conflicts, so that errors.As finds a *ConflictError.
func (e *MultiConflictError) Unwrap() []error {
	out := make([]error, len(e.Conflicts))
	for i, c := range e.Conflicts {
		out[i] = c
	}
	return out
}
