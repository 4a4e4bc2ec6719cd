package eventstore

import (
	"fmt"
	"strconv"
)

// ExpectedVersion is what an append expects of the stream it appends to.
// Use [Any], [NoStream], [StreamExists] or [Exact]; other negative values
// are invalid.
type ExpectedVersion int64

const (
	// Any appends regardless of the stream's state.
	Any ExpectedVersion = -1
	// NoStream requires the stream to have no events (version 0).
	NoStream ExpectedVersion = 0
	// StreamExists requires the stream to have at least one event.
	StreamExists ExpectedVersion = -2
)

// Exact expects the stream's last event to have version v. Exact(0) is the
// same as [NoStream]; a negative v gives an invalid expectation that Append
// rejects with [ErrInvalidArgument].
func Exact(v int64) ExpectedVersion {
	if v < 0 {
		return ExpectedVersion(-1 << 62)
	}
	return ExpectedVersion(v)
}

// Valid reports whether e is one of the defined expectations.
func (e ExpectedVersion) Valid() bool {
	return e >= 0 || e == Any || e == StreamExists
}

// Matches reports whether a stream at version actual satisfies e.
func (e ExpectedVersion) Matches(actual int64) bool {
	switch {
	case e == Any:
		return true
	case e == StreamExists:
		return actual > 0
	case e >= 0:
		return int64(e) == actual
	default:
		return false
	}
}

// String describes the expectation: "any", "no stream", "stream exists" or
// the exact version.
func (e ExpectedVersion) String() string {
	switch {
	case e == Any:
		return "any"
	case e == NoStream:
		return "no stream"
	case e == StreamExists:
		return "stream exists"
	case e > 0:
		return strconv.FormatInt(int64(e), 10)
	default:
		return fmt.Sprintf("invalid(%d)", int64(e))
	}
}
