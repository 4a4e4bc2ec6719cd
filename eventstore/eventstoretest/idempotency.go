package eventstoretest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

func testIdempotency(t *testing.T, h *harness) {
	if !h.f.Idempotency {
		t.Skip("Features.Idempotency not set")
	}
	s := h.open(t)
	ctx := h.ctx(t)
	e1, e2, e3, e4 := evID("id-1", "T"), evID("id-2", "T"), evID("id-3", "T"), evID("id-4", "T")

	first := mustAppend(t, ctx, s, "i", eventstore.NoStream, 2, e1, e2)

	// The same append again, with the same or a looser expectation: success,
	// the original version, nothing written twice.
	for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.Exact(0), eventstore.Any, eventstore.StreamExists} {
		res, err := s.Append(ctx, "i", exp, e1, e2)
		require.NoError(t, err, "re-append of the same events with expected %s must succeed", exp)
		require.Equal(t, int64(2), res.Version, "re-append with expected %s must report the original version", exp)
		if len(res.Positions) > 0 {
			require.Equal(t, first.Positions, res.Positions, "re-append with expected %s must report the original positions", exp)
		}
	}
	requireIDs(t, h, s, "i", "id-1", "id-2")

	// A repeat is recognised also after the stream moved on.
	mustAppend(t, ctx, s, "i", eventstore.Exact(2), 3, e3)
	res, err := s.Append(ctx, "i", eventstore.NoStream, e1, e2)
	require.NoError(t, err, "re-append at its original place after the stream moved on")
	require.Equal(t, int64(2), res.Version)
	res, err = s.Append(ctx, "i", eventstore.Exact(2), e3)
	require.NoError(t, err, "re-append of a single event at its original place")
	require.Equal(t, int64(3), res.Version)
	res, err = s.Append(ctx, "i", eventstore.Any, e3)
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Version)
	requireIDs(t, h, s, "i", "id-1", "id-2", "id-3")

	// Partial overlaps and repeats at another place are rejected and write
	// nothing.
	bad := []struct {
		name     string
		expected eventstore.ExpectedVersion
		events   []eventstore.Event
	}{
		{"partial overlap, new event after", eventstore.Exact(3), []eventstore.Event{e3, e4}},
		{"partial overlap, new event before", eventstore.Exact(3), []eventstore.Event{e4, e1}},
		{"partial overlap with Any", eventstore.Any, []eventstore.Event{e2, e4}},
		{"one event of an earlier append at the wrong place", eventstore.NoStream, []eventstore.Event{e2}},
		{"same events at another expected version", eventstore.Exact(1), []eventstore.Event{e1, e2}},
		{"same events in another order", eventstore.NoStream, []eventstore.Event{e2, e1}},
		{"events of two appends at the wrong place", eventstore.NoStream, []eventstore.Event{e2, e3}},
	}
	for _, b := range bad {
		_, err := s.Append(ctx, "i", b.expected, b.events...)
		require.ErrorIs(t, err, eventstore.ErrDuplicateEventID, "%s: got %v", b.name, err)
		require.NotErrorIs(t, err, eventstore.ErrConcurrencyConflict, b.name)
	}
	requireIDs(t, h, s, "i", "id-1", "id-2", "id-3")

	// Event IDs are per stream: the same ID in another stream is a new event.
	mustAppend(t, ctx, s, "j", eventstore.NoStream, 1, e1)
	requireIDs(t, h, s, "j", "id-1")

	// The rejected attempts left the stream usable: a new ID appends normally.
	mustAppend(t, ctx, s, "i", eventstore.Exact(3), 4, e4)
	requireIDs(t, h, s, "i", "id-1", "id-2", "id-3", "id-4")
}

// requireIDs checks the event IDs of a stream, in order.
func requireIDs(t *testing.T, h *harness, s eventstore.Store, stream string, want ...string) {
	t.Helper()
	recs := readStream(t, h.ctx(t), s, stream, 1)
	requireVersions(t, recs, stream, 1, len(want))
	require.Equal(t, want, ids(recs), "stream %q", stream)
}
