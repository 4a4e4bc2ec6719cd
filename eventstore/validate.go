package eventstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// MaxStreamIDLength is the longest stream ID, in bytes, that stores accept.
const MaxStreamIDLength = 1024

// ValidateStreamID returns an [ErrInvalidArgument] error when id is not a
// usable stream ID: empty, longer than [MaxStreamIDLength] bytes, or not
// valid UTF-8.
func ValidateStreamID(id string) error {
	switch {
	case id == "":
		return invalid("empty stream ID; pass the aggregate's ID")
	case len(id) > MaxStreamIDLength:
		return invalid("stream ID of %d bytes is longer than the limit of %d", len(id), MaxStreamIDLength)
	case !utf8.ValidString(id):
		return invalid("stream ID %q is not valid UTF-8", id)
	}
	return nil
}

// PrepareAppend validates an append and returns a copy of events in which
// every empty ID has been replaced by a new random UUID. Store
// implementations call it first, so that every store rejects the same bad
// input with the same errors: an invalid stream ID, an invalid expected
// version, no events, an event without a type or with a reserved type
// ([ReservedTypePrefix]), a metadata key that is
// empty, or the same event ID twice in one append.
func PrepareAppend(streamID string, expected ExpectedVersion, events []Event) ([]Event, error) {
	if err := ValidateStreamID(streamID); err != nil {
		return nil, err
	}
	if !expected.Valid() {
		return nil, invalid("expected version %d is not valid; use eventstore.Any, NoStream, StreamExists or Exact(n) with n >= 0", int64(expected))
	}
	if len(events) == 0 {
		return nil, invalid("append to stream %q has no events; pass at least one", streamID)
	}
	out := make([]Event, len(events))
	seen := make(map[string]int, len(events))
	for i, ev := range events {
		if ev.Type == "" {
			return nil, invalid("event %d of the append to stream %q has no type; set Event.Type to its stable type name", i, streamID)
		}
		if IsMarker(ev.Type) {
			return nil, invalid("event %d of the append to stream %q has the type %q, which starts with the reserved prefix %q of the markers stores write; use DeleteStream or TruncateStream for those, and another type name for events", i, streamID, ev.Type, ReservedTypePrefix)
		}
		for k := range ev.Metadata.Values {
			if k == "" {
				return nil, invalid("event %d of the append to stream %q has an empty metadata key", i, streamID)
			}
		}
		if ev.ID == "" {
			ev.ID = NewEventID()
		}
		if j, dup := seen[ev.ID]; dup {
			return nil, invalid("events %d and %d of the append to stream %q share the ID %q; give every event its own ID", j, i, streamID, ev.ID)
		}
		seen[ev.ID] = i
		out[i] = ev
	}
	return out, nil
}

// NewEventID returns a random (version 4) UUID in its canonical text form.
func NewEventID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("eventstore: no randomness for event IDs: %v", err)) // crypto/rand never fails on supported platforms
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// CheckIdempotent decides whether an append is a repeat of an earlier one,
// by the rule in the package documentation. lookup reports the version at
// which an event ID is stored in the stream, if it is. current is the
// stream's version.
//
// It returns repeat=true and the version the stream had after the earlier
// append when every event is already stored, consecutively, at the place
// the expectation allows; repeat=false and a nil error when none of the IDs
// is stored (a normal append); and an [ErrDuplicateEventID] error otherwise.
func CheckIdempotent(streamID string, expected ExpectedVersion, current int64, events []Event, lookup func(id string) (version int64, ok bool)) (repeat bool, lastVersion int64, err error) {
	first, found := int64(0), 0
	consecutive := true
	for i, ev := range events {
		v, ok := lookup(ev.ID)
		if !ok {
			continue
		}
		if found == 0 {
			first = v - int64(i)
		}
		if v != first+int64(i) {
			consecutive = false
		}
		found++
	}
	switch {
	case found == 0:
		return false, 0, nil
	case found == len(events) && consecutive && first >= 1:
		before := first - 1
		if expected == Any || expected == StreamExists || (expected >= 0 && int64(expected) == before) {
			return true, before + int64(len(events)), nil
		}
	}
	return false, 0, fmt.Errorf("%w: %d of the %d events appended to stream %q (version %d) are already stored, not as a repeat of one earlier append at expected version %s; use new IDs for new events",
		ErrDuplicateEventID, found, len(events), streamID, current, expected)
}
