package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// lifecycle returns s as a Lifecycle, or skips the test saying why.
func lifecycle(t *testing.T, s eventstore.Store) eventstore.Lifecycle {
	t.Helper()
	l, ok := s.(eventstore.Lifecycle)
	if !ok {
		t.Skipf("the store %T does not implement eventstore.Lifecycle (an optional capability)", s)
	}
	return l
}

// requireDeleted checks that a read of stream fails with a
// *StreamDeletedError at version.
func requireDeleted(t *testing.T, err error, stream string, version int64) {
	t.Helper()
	require.ErrorIs(t, err, eventstore.ErrStreamDeleted, "got %v", err)
	var de *eventstore.StreamDeletedError
	require.ErrorAs(t, err, &de, "a deleted stream's error must be an *eventstore.StreamDeletedError")
	require.Equal(t, stream, de.StreamID)
	require.Equal(t, version, de.Version, "StreamDeletedError.Version is the delete marker's version")
}

// requireTruncated checks that err is a *StreamTruncatedError with before.
func requireTruncated(t *testing.T, err error, stream string, before int64) {
	t.Helper()
	require.ErrorIs(t, err, eventstore.ErrStreamTruncated, "got %v", err)
	var te *eventstore.StreamTruncatedError
	require.ErrorAs(t, err, &te, "a truncated read's error must be an *eventstore.StreamTruncatedError")
	require.Equal(t, stream, te.StreamID)
	require.Equal(t, before, te.Before)
}

// markersOf returns the lifecycle markers of stream in the whole log.
func markersOf(t *testing.T, ctx context.Context, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	var out []eventstore.RecordedEvent
	for _, r := range all {
		if r.StreamID == stream && eventstore.IsMarker(r.Type) {
			out = append(out, r)
		}
	}
	return out
}

// testDeleteStream deletes a stream, checks that reads and appends are
// refused, recreates it, and checks the same on a second instance (for
// Kafka, one that builds its index from the log: a restart).
func testDeleteStream(t *testing.T, h *harness) {
	s := h.open(t)
	l := lifecycle(t, s)
	ctx := h.ctx(t)
	const stream = "del-a"
	mustAppend(t, ctx, s, stream, eventstore.NoStream, 2, ev("T", "1"), ev("T", "2"))

	_, err := l.DeleteStream(ctx, stream, eventstore.Exact(1))
	requireConflict(t, err, stream, eventstore.Exact(1), 2)
	requireVersions(t, readStream(t, ctx, s, stream, 1), stream, 1, 2)

	res, err := l.DeleteStream(ctx, stream, eventstore.Exact(2))
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Version, "the delete marker takes the stream's next version")
	require.Len(t, res.Positions, 1)

	for _, st := range []eventstore.Store{s, h.peer(t, s)} {
		_, err = collect(t, st.ReadStream(ctx, stream, 1))
		requireDeleted(t, err, stream, 3)
		_, err = st.Append(ctx, stream, eventstore.Any, ev("T", "x"))
		requireDeleted(t, err, stream, 3)
		_, err = st.Append(ctx, stream, eventstore.Exact(3), ev("T", "x"))
		requireDeleted(t, err, stream, 3)
		_, err = lifecycle(t, st).DeleteStream(ctx, stream, eventstore.Any)
		requireDeleted(t, err, stream, 3)
		_, err = lifecycle(t, st).TruncateStream(ctx, stream, eventstore.Any, 2)
		requireDeleted(t, err, stream, 3)
		if m, ok := st.(eventstore.MultiAppender); ok {
			_, err = m.AppendMulti(ctx,
				eventstore.StreamAppend{StreamID: "del-other", Expected: eventstore.NoStream, Events: []eventstore.Event{ev("T", "o")}},
				eventstore.StreamAppend{StreamID: stream, Expected: eventstore.Exact(3), Events: []eventstore.Event{ev("T", "x")}})
			requireDeleted(t, err, stream, 3)
			_, err = m.AppendMulti(ctx,
				eventstore.StreamAppend{StreamID: "del-other", Expected: eventstore.NoStream, Events: []eventstore.Event{ev("T", "o")}},
				eventstore.StreamAppend{StreamID: stream, Expected: eventstore.Exact(3)})
			requireDeleted(t, err, stream, 3)
			requireStreamMissing(t, h, st, "del-other")
		}
	}
	markers := markersOf(t, ctx, s, stream)
	require.Len(t, markers, 1, "ReadAll yields the delete marker")
	m, ok := eventstore.ParseMarker(markers[0].Event)
	require.True(t, ok)
	require.Equal(t, eventstore.MarkerDeleted, m.Kind)
	require.Equal(t, int64(3), markers[0].Version)
	require.Equal(t, res.Positions[0], markers[0].Position)

	_, err = l.DeleteStream(ctx, "del-missing", eventstore.Any)
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "deleting a stream that has no events")

	if _, ok := s.(eventstore.MultiAppender); !ok {
		return
	}
	_, err = eventstore.Recreate(ctx, s, stream, eventstore.Exact(2), ev("T", "r"))
	requireConflict(t, err, stream, eventstore.Exact(2), 3)
	rec, err := eventstore.Recreate(ctx, s, stream, eventstore.Exact(3), ev("T", "r1"), ev("T", "r2"))
	require.NoError(t, err)
	require.Equal(t, int64(5), rec.Version, "a recreated stream continues numbering after the marker")
	for _, st := range []eventstore.Store{s, h.peer(t, s)} {
		got := readStream(t, ctx, st, stream, 1)
		requireVersions(t, got, stream, 4, 2)
		require.Equal(t, "r1", string(got[0].Data), "reads of a recreated stream start after the delete marker")
	}
	mustAppend(t, ctx, s, stream, eventstore.Exact(5), 6, ev("T", "r3"))
	_, err = eventstore.Recreate(ctx, s, stream, eventstore.Exact(6), ev("T", "r4"))
	require.NoError(t, err, "Recreate on a stream that is not deleted is a plain append")
}

// testTruncateStream truncates a stream and checks reads from before and
// after the truncation point, also on a second instance.
func testTruncateStream(t *testing.T, h *harness) {
	s := h.open(t)
	l := lifecycle(t, s)
	ctx := h.ctx(t)
	const stream = "trunc-a"
	mustAppend(t, ctx, s, stream, eventstore.NoStream, 5, ev("T", "1"), ev("T", "2"), ev("T", "3"), ev("T", "4"), ev("T", "5"))

	_, err := l.TruncateStream(ctx, stream, eventstore.Exact(4), 4)
	requireConflict(t, err, stream, eventstore.Exact(4), 5)
	_, err = l.TruncateStream(ctx, stream, eventstore.Exact(5), 7)
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "truncating past the stream's version plus one")
	_, err = l.TruncateStream(ctx, stream, eventstore.Exact(5), 0)
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "truncating before version 0")
	_, err = l.TruncateStream(ctx, "trunc-missing", eventstore.Any, 1)
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound)

	res, err := l.TruncateStream(ctx, stream, eventstore.Exact(5), 4)
	require.NoError(t, err)
	require.Equal(t, int64(6), res.Version, "the truncate marker takes the stream's next version")
	mustAppend(t, ctx, s, stream, eventstore.Exact(6), 7, ev("T", "7"))

	for _, st := range []eventstore.Store{s, h.peer(t, s)} {
		for _, from := range []int64{0, 1, 3} {
			_, err = collect(t, st.ReadStream(ctx, stream, from))
			requireTruncated(t, err, stream, 4)
		}
		got := readStream(t, ctx, st, stream, 4)
		requireVersions(t, got, stream, 4, 4)
		require.Equal(t, eventstore.TypeStreamTruncated, got[2].Type, "ReadStream yields the truncate marker at its version")
		m, ok := eventstore.ParseMarker(got[2].Event)
		require.True(t, ok)
		require.Equal(t, eventstore.Marker{Kind: eventstore.MarkerTruncated, Before: 4}, m)
		requireVersions(t, readStream(t, ctx, st, stream, 7), stream, 7, 1)
	}
	// A truncation never moves back.
	_, err = l.TruncateStream(ctx, stream, eventstore.Exact(7), 2)
	require.NoError(t, err)
	_, err = collect(t, s.ReadStream(ctx, stream, 3))
	requireTruncated(t, err, stream, 4)
	// Truncating everything so far.
	_, err = l.TruncateStream(ctx, stream, eventstore.Any, 9)
	require.NoError(t, err)
	_, err = collect(t, s.ReadStream(ctx, stream, 8))
	requireTruncated(t, err, stream, 9)
	require.Empty(t, readStream(t, ctx, s, stream, 10))
	require.Len(t, markersOf(t, ctx, s, stream), 3)
}

// testLifecycleBadInput checks the input rules of the markers.
func testLifecycleBadInput(t *testing.T, h *harness) {
	s := h.open(t)
	l := lifecycle(t, s)
	ctx := h.ctx(t)
	_, err := s.Append(ctx, "bad-a", eventstore.Any, ev(eventstore.TypeStreamDeleted, ""))
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "events of a reserved type are the store's to write")
	_, err = s.Append(ctx, "bad-a", eventstore.Any, ev(eventstore.ReservedTypePrefix+"other", ""))
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	_, err = l.DeleteStream(ctx, "", eventstore.Any)
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	_, err = l.DeleteStream(ctx, "bad-a", eventstore.Exact(-3))
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	_, err = l.TruncateStream(ctx, "bad-a", eventstore.Any, -1)
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	requireStreamMissing(t, h, s, "bad-a")
}

// testDeleteRace deletes streams from one instance while another appends
// to them: for every stream exactly one of the two wins, and a third look
// (a read on the first instance) agrees with the winner.
func testDeleteRace(t *testing.T, h *harness) {
	s := h.open(t)
	l := lifecycle(t, s)
	p := h.peer(t, s)
	ctx := h.ctx(t)
	const n = 12
	for i := range n {
		mustAppend(t, ctx, s, fmt.Sprintf("race-%d", i), eventstore.NoStream, 1, ev("T", "1"))
	}
	delOK := make([]bool, n)
	appOK := make([]bool, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		stream := fmt.Sprintf("race-%d", i)
		expected := eventstore.Exact(1)
		if i%2 == 1 {
			expected = eventstore.Any
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := l.DeleteStream(ctx, stream, eventstore.Exact(1))
			switch {
			case err == nil:
				delOK[i] = true
			case !errors.Is(err, eventstore.ErrConcurrencyConflict):
				errs <- fmt.Errorf("delete %s: %w", stream, err)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := p.Append(ctx, stream, expected, ev("T", "2"))
			switch {
			case err == nil:
				appOK[i] = true
			case !errors.Is(err, eventstore.ErrConcurrencyConflict) && !errors.Is(err, eventstore.ErrStreamDeleted):
				errs <- fmt.Errorf("append %s: %w", stream, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a racing delete or append may only fail with a conflict or a deleted stream")
	}
	for i := range n {
		stream := fmt.Sprintf("race-%d", i)
		require.True(t, delOK[i] != appOK[i], "stream %s: exactly one of the delete (%v) and the append (%v) wins", stream, delOK[i], appOK[i])
		recs, err := collect(t, s.ReadStream(ctx, stream, 1))
		if delOK[i] {
			requireDeleted(t, err, stream, 2)
		} else {
			require.NoError(t, err)
			requireVersions(t, recs, stream, 1, 2)
		}
	}
}
