package projection

import (
	"context"
	"reflect"

	"github.com/kafkaes/kafkaes/eventstore"
)

// StreamDeleted is the notice a runner hands to an On[StreamDeleted]
// handler where the log holds a stream's delete marker
// ([eventstore.Lifecycle.DeleteStream]): remove what the projection keeps
// about the stream. Meta carries the stream, the marker's version and
// position. Events the stream gets after a recreation follow it in the
// log as usual.
type StreamDeleted struct {
	// StreamID is the deleted stream.
	StreamID string
}

// StreamTruncated is the notice a runner hands to an On[StreamTruncated]
// handler where the log holds a stream's truncate marker
// ([eventstore.Lifecycle.TruncateStream]). Most projections ignore it: a
// truncation changes what loads of the stream read, not the events a
// projection has already seen.
type StreamTruncated struct {
	// StreamID is the truncated stream.
	StreamID string
	// Before is the first version still read by loads of the stream.
	Before int64
}

// notice returns the notice value of a lifecycle marker, and whether ev
// is a valid marker.
func notice(ev *eventstore.RecordedEvent) (any, bool) {
	m, ok := eventstore.ParseMarker(ev.Event)
	if !ok {
		return nil, false
	}
	if m.Kind == eventstore.MarkerDeleted {
		return StreamDeleted{StreamID: ev.StreamID}, true
	}
	return StreamTruncated{StreamID: ev.StreamID, Before: m.Before}, true
}

// handleNotice hands the lifecycle marker ev (eventstore.IsMarker) to the
// On handler of its notice type, if there is one. Markers are never
// decoded with the serde nor given to OnAny handlers, so projections that
// do not care about them do not see them (OnRecorded handlers get them,
// as every record).
func (r *Runner) handleNotice(ctx context.Context, ev *eventstore.RecordedEvent, m Meta) error {
	v, ok := notice(ev)
	if !ok {
		return nil // a reserved type this version does not know: not an event of the projection
	}
	if h, ok := r.hs.byType[reflect.TypeOf(v)]; ok {
		return h.fn(ctx, v, m)
	}
	return nil
}
