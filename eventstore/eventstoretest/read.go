package eventstoretest

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

func testReadStream(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	// Interleave two streams so that a stream's events are not adjacent.
	for i := 1; i <= 5; i++ {
		mustAppend(t, ctx, s, "a", eventstore.Exact(int64(i-1)), int64(i), ev("A", fmt.Sprint(i)))
		mustAppend(t, ctx, s, "b", eventstore.Exact(int64(i-1)), int64(i), ev("B", fmt.Sprint(i)))
	}
	for _, from := range []int64{-3, 0, 1} {
		requireVersions(t, readStream(t, ctx, s, "a", from), "a", 1, 5)
	}
	requireVersions(t, readStream(t, ctx, s, "a", 3), "a", 3, 3)
	requireVersions(t, readStream(t, ctx, s, "a", 5), "a", 5, 1)
	requireVersions(t, readStream(t, ctx, s, "b", 2), "b", 2, 4)
	require.Empty(t, readStream(t, ctx, s, "a", 6), "ReadStream after the end of a stream yields nothing and no error")
	require.Empty(t, readStream(t, ctx, s, "a", 1000))

	recs := readStream(t, ctx, s, "a", 1)
	for i, r := range recs {
		require.Equal(t, "A", r.Type)
		require.Equal(t, fmt.Sprint(i+1), string(r.Data))
		if i > 0 {
			require.Equal(t, recs[i-1].Position.Partition, r.Position.Partition, "a stream lives in one partition")
			require.Less(t, recs[i-1].Position.Offset, r.Position.Offset, "a stream's offsets increase with its versions")
		}
	}

	// Breaking out early is allowed and leaves the store usable.
	n := 0
	for _, err := range s.ReadStream(ctx, "a", 1) {
		require.NoError(t, err)
		n++
		if n == 2 {
			break
		}
	}
	require.Equal(t, 2, n)
	mustAppend(t, ctx, s, "a", eventstore.Exact(5), 6, ev("A", "6"))
	requireVersions(t, readStream(t, ctx, s, "a", 1), "a", 1, 6)
}

func testReadStreamMissing(t *testing.T, h *harness) {
	s := h.open(t)
	requireStreamMissing(t, h, s, "nobody")
	mustAppend(t, h.ctx(t), s, "somebody", eventstore.NoStream, 1, ev("T", "x"))
	requireStreamMissing(t, h, s, "nobody")
	recs, err := collect(t, s.ReadStream(h.ctx(t), "nobody", 5))
	require.Empty(t, recs)
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
}

// appendMix appends a fixed mix of events to several streams and returns
// the positions Append reported, by event ID.
func appendMix(t *testing.T, ctx context.Context, s eventstore.Store) map[string]eventstore.Position {
	t.Helper()
	pos := map[string]eventstore.Position{}
	plan := []struct {
		stream string
		n      int
	}{{"a", 2}, {"b", 1}, {"c", 3}, {"a", 1}, {"b", 2}, {"d", 1}}
	versions := map[string]int64{}
	for i, p := range plan {
		events := make([]eventstore.Event, p.n)
		for j := range events {
			events[j] = evID(fmt.Sprintf("mix-%d-%d", i, j), "T")
		}
		v := versions[p.stream]
		res := mustAppend(t, ctx, s, p.stream, eventstore.Exact(v), v+int64(p.n), events...)
		versions[p.stream] = res.Version
		for j, e := range events {
			pos[e.ID] = res.Positions[j]
		}
	}
	return pos
}

// requireLogOrder checks the ordering guarantees of ReadAll/Subscribe:
// per-stream versions contiguous from 1 and per-partition offsets increasing.
func requireLogOrder(t *testing.T, recs []eventstore.RecordedEvent) {
	t.Helper()
	lastVersion := map[string]int64{}
	lastOffset := map[int32]int64{}
	for _, r := range recs {
		require.Equal(t, lastVersion[r.StreamID]+1, r.Version, "stream %q out of order in %s", r.StreamID, describe(recs))
		lastVersion[r.StreamID] = r.Version
		if o, ok := lastOffset[r.Position.Partition]; ok {
			require.Less(t, o, r.Position.Offset, "partition %d out of offset order in %s", r.Position.Partition, describe(recs))
		}
		lastOffset[r.Position.Partition] = r.Position.Offset
	}
}

func testReadAll(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	empty, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err, "ReadAll of an empty store")
	require.Empty(t, empty)

	pos := appendMix(t, ctx, s)
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err, "ReadAll must stop at the end of the log")
	require.Len(t, all, len(pos), "ReadAll must yield every event once: %s", describe(all))
	requireLogOrder(t, all)
	seen := map[string]bool{}
	for _, r := range all {
		require.False(t, seen[r.ID], "event %s twice", r.ID)
		seen[r.ID] = true
		require.Equal(t, pos[r.ID], r.Position, "event %s: ReadAll must report the position Append returned", r.ID)
	}

	again, err := collect(t, s.ReadAll(ctx, eventstore.Checkpoint{}))
	require.NoError(t, err)
	require.Len(t, again, len(all), "an empty checkpoint is the beginning")
}

func testReadAllCheckpoint(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	pos := appendMix(t, ctx, s)

	for _, stopAfter := range []int{1, 4, len(pos) - 1} {
		var (
			cp   eventstore.Checkpoint
			seen = map[string]bool{}
		)
		n := 0
		for r, err := range s.ReadAll(ctx, nil) {
			require.NoError(t, err)
			cp = cp.Advance(r.Position)
			seen[r.ID] = true
			if n++; n == stopAfter {
				break
			}
		}
		before := cp.Clone()
		rest, err := collect(t, s.ReadAll(ctx, cp))
		require.NoError(t, err)
		require.Equal(t, before, cp, "ReadAll must not modify the caller's checkpoint")
		require.Len(t, rest, len(pos)-stopAfter, "resuming after %d events must give exactly the rest: %s", stopAfter, describe(rest))
		for _, r := range rest {
			require.False(t, seen[r.ID], "resumed ReadAll repeated event %s@%d", r.StreamID, r.Version)
			require.False(t, cp.Includes(r.Position))
			seen[r.ID] = true
		}
		require.Len(t, seen, len(pos))
	}

	// A checkpoint at the end yields nothing, then exactly what comes later.
	var end eventstore.Checkpoint
	for r, err := range s.ReadAll(ctx, nil) {
		require.NoError(t, err)
		end = end.Advance(r.Position)
	}
	rest, err := collect(t, s.ReadAll(ctx, end))
	require.NoError(t, err)
	require.Empty(t, rest, "ReadAll from the end of the log")
	mustAppend(t, ctx, s, "e", eventstore.NoStream, 2, ev("T", "1"), ev("T", "2"))
	rest, err = collect(t, s.ReadAll(ctx, end))
	require.NoError(t, err)
	requireVersions(t, rest, "e", 1, 2)
}

func testCancellation(t *testing.T, h *harness) {
	s := h.open(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := s.Append(cancelled, "x", eventstore.NoStream, ev("T", "1"))
	require.ErrorIs(t, err, context.Canceled, "Append with a cancelled context")
	requireStreamMissing(t, h, s, "x")

	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "y", eventstore.NoStream, 3, ev("T", "1"), ev("T", "2"), ev("T", "3"))
	_, err = s.Append(cancelled, "y", eventstore.Exact(3), ev("T", "4"))
	require.ErrorIs(t, err, context.Canceled)
	requireVersions(t, readStream(t, ctx, s, "y", 1), "y", 1, 3)

	recs, err := collect(t, s.ReadStream(cancelled, "y", 1))
	require.Empty(t, recs, "ReadStream with a cancelled context must yield no events")
	require.ErrorIs(t, err, context.Canceled)
	recs, err = collect(t, s.ReadAll(cancelled, nil))
	require.Empty(t, recs, "ReadAll with a cancelled context must yield no events")
	require.ErrorIs(t, err, context.Canceled)
	sub := consume(s.Subscribe(cancelled, nil))
	require.ErrorIs(t, sub.requireEnds(t, h.f.Timeout), context.Canceled, "Subscribe with a cancelled context")

	expired, cancel2 := context.WithTimeout(context.Background(), -1)
	defer cancel2()
	_, err = s.Append(expired, "y", eventstore.Exact(3), ev("T", "4"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	requireVersions(t, readStream(t, ctx, s, "y", 1), "y", 1, 3)
}

func testCancelDuringRead(t *testing.T, h *harness) {
	s := h.open(t)
	mustAppend(t, h.ctx(t), s, "z", eventstore.NoStream, 5, ev("T", "1"), ev("T", "2"), ev("T", "3"), ev("T", "4"), ev("T", "5"))
	reads := map[string]func(context.Context) func(func(eventstore.RecordedEvent, error) bool){
		"ReadStream": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return s.ReadStream(ctx, "z", 1)
		},
		"ReadAll": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return s.ReadAll(ctx, nil)
		},
		"Subscribe": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return s.Subscribe(ctx, nil)
		},
	}
	for name, read := range reads {
		ctx, cancel := context.WithCancel(context.Background())
		n, stopped := 0, false
		for _, err := range read(ctx) {
			if stopped {
				t.Fatalf("%s yielded after the context error", name)
			}
			if err != nil {
				require.ErrorIs(t, err, context.Canceled, "%s after cancel", name)
				stopped = true
				continue
			}
			n++
			require.Equal(t, 1, n, "%s yielded an event after its context was cancelled", name)
			cancel()
		}
		cancel()
		require.True(t, stopped, "%s must yield the context error once its context is cancelled", name)
	}
}
