package kafka

import (
	"context"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

var _ eventstore.Lifecycle = (*Store)(nil)

// DeleteStream deletes a stream; see [eventstore.Lifecycle.DeleteStream].
// The delete marker is a record of the stream (es.type
// "$es.stream-deleted", a null value; docs/wire-format.md) appended at the
// stream's next version like an event: checked against the index, covered
// by the conflict scan, committed in a transaction. The index of every
// store instance (and the saved index of [WithIndexDir]) records it from
// the log. [WithObserver]'s append observer sees the marker as an append
// of one event. An error wrapping [ErrUnknownOutcome] means the marker was
// written or not: read the stream (a [*eventstore.StreamDeletedError]
// says it was), or delete again.
func (s *Store) DeleteStream(ctx context.Context, streamID string, expected eventstore.ExpectedVersion) (eventstore.AppendResult, error) {
	return s.appendMarker(ctx, streamID, expected, eventstore.Marker{Kind: eventstore.MarkerDeleted})
}

// TruncateStream truncates a stream before version before; see
// [eventstore.Lifecycle.TruncateStream]. The truncate marker is a record
// of the stream (es.type "$es.stream-truncated", header
// es.truncate-before, a null value) appended at the stream's next
// version like DeleteStream's. Nothing is removed from the topic: the
// events before the truncation point stay in the log (and in ReadAll), but
// ReadStream no longer fetches them.
func (s *Store) TruncateStream(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, before int64) (eventstore.AppendResult, error) {
	return s.appendMarker(ctx, streamID, expected, eventstore.Marker{Kind: eventstore.MarkerTruncated, Before: before})
}

// appendMarker appends the lifecycle marker m through the append path.
func (s *Store) appendMarker(ctx context.Context, streamID string, expected eventstore.ExpectedVersion, m eventstore.Marker) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateMarker(streamID, expected, m); err != nil {
		return eventstore.AppendResult{}, err
	}
	evs := []eventstore.Event{m.Event()}
	r := &appendReq{
		stream: streamID, part: wire.PartitionString(streamID, s.nparts),
		expected: expected, events: evs, done: make(chan appendOutcome, 1),
		base: -1, marker: m,
	}
	start := time.Now()
	res, err := s.await(ctx, r)
	err = s.judge(r, err)
	if h := s.opts.hooks.Append; h != nil {
		s.reportAppend(ctx, h, streamID, evs, time.Since(start), err)
	}
	return res, err
}
