package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ReservedTypePrefix starts the event types that stores write themselves
// (the lifecycle markers [TypeStreamDeleted] and [TypeStreamTruncated]).
// Append refuses events whose type starts with it ([ErrInvalidArgument]).
const ReservedTypePrefix = "$es."

// Types of the lifecycle markers. A marker is a record of the stream like
// an event: it takes the stream's next version, carries an ID and a time,
// and has no data (on Kafka a null value). Readers find it by its type
// ([ParseMarker]).
const (
	// TypeStreamDeleted marks a stream as deleted ([Lifecycle.DeleteStream]).
	TypeStreamDeleted = ReservedTypePrefix + "stream-deleted"
	// TypeStreamTruncated marks a stream's history before a version as no
	// longer read ([Lifecycle.TruncateStream]). Its metadata value
	// [MarkerTruncateBefore] holds that version.
	TypeStreamTruncated = ReservedTypePrefix + "stream-truncated"
)

// MarkerTruncateBefore is the metadata key (Metadata.Values) of a
// [TypeStreamTruncated] marker that holds the version before which the
// stream is truncated, in decimal (on Kafka the header
// "es.truncate-before").
const MarkerTruncateBefore = "truncate-before"

var (
	// ErrStreamDeleted means the stream was deleted
	// ([Lifecycle.DeleteStream]): reads of it fail, and appends to it are
	// refused unless they recreate it (StreamAppend.Recreate, or
	// [Recreate]). Errors matching it are [*StreamDeletedError].
	ErrStreamDeleted = errors.New("eventstore: stream deleted")

	// ErrStreamTruncated means a read asked for events before the
	// version the stream was truncated at ([Lifecycle.TruncateStream]):
	// they are no longer read. Start from a snapshot at or after the
	// truncation, or read from the version the error names. Errors
	// matching it are [*StreamTruncatedError].
	ErrStreamTruncated = errors.New("eventstore: stream truncated")
)

// StreamDeletedError is the error of a read of, or an append to, a deleted
// stream. It matches [ErrStreamDeleted] with errors.Is.
type StreamDeletedError struct {
	// StreamID is the deleted stream.
	StreamID string
	// Version is the version of the delete marker: the stream's version.
	// An append that recreates the stream expects it (Exact(Version)).
	Version int64
}

// Error says what happened and what to do.
func (e *StreamDeletedError) Error() string {
	return fmt.Sprintf("eventstore: stream %q was deleted (delete marker at version %d); it can no longer be read, "+
		"and appending to it needs an explicit recreate (StreamAppend.Recreate or eventstore.Recreate, expecting version %d)",
		e.StreamID, e.Version, e.Version)
}

// Is makes errors.Is(err, ErrStreamDeleted) true.
func (e *StreamDeletedError) Is(target error) bool { return target == ErrStreamDeleted }

// StreamTruncatedError is the error of a read that starts before the
// version a stream was truncated at. It matches [ErrStreamTruncated] with
// errors.Is.
type StreamTruncatedError struct {
	// StreamID is the truncated stream.
	StreamID string
	// Before is the first version still read; the events before it are
	// truncated.
	Before int64
	// From is the version the read asked to start at.
	From int64
}

// Error says what happened and what to do.
func (e *StreamTruncatedError) Error() string {
	return fmt.Sprintf("eventstore: stream %q is truncated before version %d: its events before that version are no longer read, "+
		"so a read from version %d cannot return the whole history; start from a snapshot at version %d or later, or read from version %d",
		e.StreamID, e.Before, e.From, e.Before-1, e.Before)
}

// Is makes errors.Is(err, ErrStreamTruncated) true.
func (e *StreamTruncatedError) Is(target error) bool { return target == ErrStreamTruncated }

// Lifecycle is implemented by stores that delete and truncate streams.
// Both stores of this module implement it (memory and Kafka); use
// [DeleteStream] and [TruncateStream], which say so clearly when a store
// does not.
//
// Both write a marker (an event of a reserved type, [TypeStreamDeleted]
// or [TypeStreamTruncated]) at the stream's next version, through the
// normal append path: the expected version is checked as for an append
// (a conflict is a [*ConflictError]), the marker is atomic with respect
// to concurrent appends, and readers of the whole log ([Store.ReadAll],
// [Store.Subscribe]) see it where it was written.
type Lifecycle interface {
	// DeleteStream deletes the stream (soft delete): it writes a delete
	// marker at the stream's next version if the stream matches
	// expected, and returns the marker's version and position. After it,
	// ReadStream fails with a [*StreamDeletedError], and appends are
	// refused with it unless they recreate the stream
	// (StreamAppend.Recreate, [Recreate]); a recreated stream continues
	// numbering after the marker, and its reads start after it (the
	// events before the deletion are no longer read). Nothing is erased
	// from the log.
	//
	// Errors: those of [Store.Append]; [ErrStreamNotFound] when the
	// stream has no events; a [*StreamDeletedError] when it is already
	// deleted.
	DeleteStream(ctx context.Context, streamID string, expected ExpectedVersion) (AppendResult, error)

	// TruncateStream truncates the stream before version before: it writes
	// a truncate marker at the stream's next version if the stream
	// matches expected. After it, ReadStream from a version at or after
	// before works as usual (it yields the marker too, at its version),
	// and ReadStream from an earlier version fails with a
	// [*StreamTruncatedError]: the events before are no longer read.
	// before is usually a snapshot's version plus one (or the snapshot's
	// version), so that loads start from the snapshot; it must be at
	// least 1 and at most the stream's version plus one (everything so
	// far). A truncation never moves back: truncating before an earlier
	// version than a previous truncation changes nothing (the marker is
	// still written). Nothing is erased from the log.
	//
	// Errors: those of [Store.Append]; [ErrStreamNotFound] when the
	// stream has no events; a [*StreamDeletedError] when it is deleted;
	// [ErrInvalidArgument] when before is out of range.
	TruncateStream(ctx context.Context, streamID string, expected ExpectedVersion, before int64) (AppendResult, error)
}

// DeleteStream deletes a stream of s; see [Lifecycle.DeleteStream]. It
// fails with [ErrInvalidArgument] when s does not implement Lifecycle.
func DeleteStream(ctx context.Context, s Store, streamID string, expected ExpectedVersion) (AppendResult, error) {
	l, ok := s.(Lifecycle)
	if !ok {
		return AppendResult{}, invalid("the store %T cannot delete streams (it does not implement eventstore.Lifecycle); use the memory or the Kafka store", s)
	}
	return l.DeleteStream(ctx, streamID, expected)
}

// TruncateStream truncates a stream of s before version before; see
// [Lifecycle.TruncateStream]. It fails with [ErrInvalidArgument] when s
// does not implement Lifecycle.
func TruncateStream(ctx context.Context, s Store, streamID string, expected ExpectedVersion, before int64) (AppendResult, error) {
	l, ok := s.(Lifecycle)
	if !ok {
		return AppendResult{}, invalid("the store %T cannot truncate streams (it does not implement eventstore.Lifecycle); use the memory or the Kafka store", s)
	}
	return l.TruncateStream(ctx, streamID, expected, before)
}

// Recreate appends events to a deleted stream, recreating it: it is
// [AppendMulti] with one entry whose Recreate is set. expected is checked
// against the stream's version, which counts the delete marker
// ([StreamDeletedError.Version]); on a stream that is not deleted it is a
// plain append. It fails with [ErrInvalidArgument] when s does not
// implement [MultiAppender].
func Recreate(ctx context.Context, s Store, streamID string, expected ExpectedVersion, events ...Event) (AppendResult, error) {
	res, err := AppendMulti(ctx, s, StreamAppend{StreamID: streamID, Expected: expected, Events: events, Recreate: true})
	if err != nil {
		return AppendResult{}, err
	}
	return res[0], nil
}

// MarkerKind says what a lifecycle marker does.
type MarkerKind int

const (
	// MarkerNone is not a marker: an ordinary event.
	MarkerNone MarkerKind = iota
	// MarkerDeleted is a delete marker ([TypeStreamDeleted]).
	MarkerDeleted
	// MarkerTruncated is a truncate marker ([TypeStreamTruncated]).
	MarkerTruncated
)

// Marker is a lifecycle marker as [ParseMarker] reads it.
type Marker struct {
	// Kind is MarkerDeleted or MarkerTruncated.
	Kind MarkerKind
	// Before is, for a truncate marker, the first version still read.
	Before int64
}

// IsMarker reports whether events of this type are lifecycle markers
// written by a store (any type with [ReservedTypePrefix]). Code that
// decodes events it reads skips them (package aggregate and the
// projection runner do).
func IsMarker(eventType string) bool { return strings.HasPrefix(eventType, ReservedTypePrefix) }

// ParseMarker returns the lifecycle marker ev is, and whether it is a
// valid one: a [TypeStreamDeleted] event, or a [TypeStreamTruncated]
// event with a [MarkerTruncateBefore] value of at least 1.
func ParseMarker(ev Event) (Marker, bool) {
	switch ev.Type {
	case TypeStreamDeleted:
		return Marker{Kind: MarkerDeleted}, true
	case TypeStreamTruncated:
		v, err := strconv.ParseInt(ev.Metadata.Values[MarkerTruncateBefore], 10, 64)
		if err != nil || v < 1 {
			return Marker{}, false
		}
		return Marker{Kind: MarkerTruncated, Before: v}, true
	}
	return Marker{}, false
}

// Event returns the event a store appends for the marker m, with a new
// random ID. For store implementations.
func (m Marker) Event() Event {
	switch m.Kind {
	case MarkerDeleted:
		return Event{ID: NewEventID(), Type: TypeStreamDeleted}
	case MarkerTruncated:
		return Event{ID: NewEventID(), Type: TypeStreamTruncated,
			Metadata: Metadata{Values: map[string]string{MarkerTruncateBefore: strconv.FormatInt(m.Before, 10)}}}
	}
	return Event{}
}

// StreamLife is what a store tracks about a stream's lifecycle, from the
// markers in it. The zero value is a stream that was never deleted nor
// truncated. For store implementations: both stores of this module keep
// one per stream and apply the same rules with it.
type StreamLife struct {
	// DeletedAt is the version of the stream's latest delete marker (0:
	// none). The stream is deleted while its version is DeletedAt.
	DeletedAt int64
	// TruncatedBefore is the highest truncation point of the stream's
	// truncate markers (0: none).
	TruncatedBefore int64
}

// Apply updates l with the marker m written at version.
func (l *StreamLife) Apply(m Marker, version int64) {
	switch m.Kind {
	case MarkerDeleted:
		l.DeletedAt = version
	case MarkerTruncated:
		l.TruncatedBefore = max(l.TruncatedBefore, m.Before)
	}
}

// Deleted reports whether a stream at version is deleted.
func (l StreamLife) Deleted(version int64) bool { return l.DeletedAt > 0 && l.DeletedAt == version }

// Start is the first version reads of the stream yield: after the latest
// delete marker (the stream was recreated), or 1.
func (l StreamLife) Start() int64 { return l.DeletedAt + 1 }

// ReadFrom returns where a read of the stream (at version) asked to start
// at from really starts, or the error it fails with: a
// [*StreamDeletedError] for a deleted stream, a [*StreamTruncatedError]
// when from is before the truncation point (and after the start of the
// stream's current life).
func (l StreamLife) ReadFrom(streamID string, version, from int64) (int64, error) {
	if l.Deleted(version) {
		return 0, &StreamDeletedError{StreamID: streamID, Version: version}
	}
	from = max(from, 1, l.Start())
	if from < l.TruncatedBefore {
		return 0, &StreamTruncatedError{StreamID: streamID, Before: l.TruncatedBefore, From: from}
	}
	return from, nil
}

// CheckAppend applies the lifecycle rules to an append to a stream at
// version (after its expected version was found to hold or not to
// matter): an append of events to a deleted stream needs recreate; a
// marker needs a stream that exists and is not deleted; a truncation
// point must be in 1..version+1.
func (l StreamLife) CheckAppend(streamID string, version int64, recreate bool, marker Marker) error {
	switch {
	case marker.Kind != MarkerNone && version == 0:
		return fmt.Errorf("%w: stream %q: nothing to delete or truncate", ErrStreamNotFound, streamID)
	case l.Deleted(version) && (marker.Kind != MarkerNone || !recreate):
		return &StreamDeletedError{StreamID: streamID, Version: version}
	case marker.Kind == MarkerTruncated && (marker.Before < 1 || marker.Before > version+1):
		return invalid("truncate stream %q before version %d: the version must be between 1 and the stream's version plus one (%d)", streamID, marker.Before, version+1)
	}
	return nil
}

// ValidateMarker checks the arguments of a DeleteStream or TruncateStream
// call that do not depend on the stream: the stream ID, the expected
// version and, for a truncation, before >= 1. For store implementations.
func ValidateMarker(streamID string, expected ExpectedVersion, m Marker) error {
	if err := ValidateStreamID(streamID); err != nil {
		return err
	}
	if !expected.Valid() {
		return invalid("expected version %d is not valid; use eventstore.Any, StreamExists or Exact(n) with n >= 1", int64(expected))
	}
	if m.Kind == MarkerTruncated && m.Before < 1 {
		return invalid("truncate stream %q before version %d: the version must be at least 1", streamID, m.Before)
	}
	return nil
}
