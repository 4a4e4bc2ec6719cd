package eventstoretest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

func testExpectedVersion(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	E := eventstore.Exact

	// On a stream that does not exist.
	requireConflict(t, fail(s.Append(ctx, "s1", eventstore.StreamExists, ev("T", "x"))), "s1", eventstore.StreamExists, 0)
	requireConflict(t, fail(s.Append(ctx, "s1", E(1), ev("T", "x"))), "s1", E(1), 0)
	requireConflict(t, fail(s.Append(ctx, "s1", E(7), ev("T", "x"))), "s1", E(7), 0)
	requireStreamMissing(t, h, s, "s1")

	mustAppend(t, ctx, s, "s1", eventstore.NoStream, 1, ev("T", "1"))
	mustAppend(t, ctx, s, "s2", E(0), 1, ev("T", "1")) // Exact(0) is NoStream
	mustAppend(t, ctx, s, "s3", eventstore.Any, 1, ev("T", "1"))

	// On a stream at version 1.
	requireConflict(t, fail(s.Append(ctx, "s1", eventstore.NoStream, ev("T", "x"))), "s1", eventstore.NoStream, 1)
	requireConflict(t, fail(s.Append(ctx, "s2", E(0), ev("T", "x"))), "s2", eventstore.NoStream, 1)
	requireConflict(t, fail(s.Append(ctx, "s1", E(2), ev("T", "x"))), "s1", E(2), 1)
	mustAppend(t, ctx, s, "s1", E(1), 2, ev("T", "2"))
	mustAppend(t, ctx, s, "s1", eventstore.StreamExists, 3, ev("T", "3"))
	mustAppend(t, ctx, s, "s1", eventstore.Any, 4, ev("T", "4"))
	mustAppend(t, ctx, s, "s3", eventstore.Any, 2, ev("T", "2"))
	mustAppend(t, ctx, s, "s2", eventstore.StreamExists, 2, ev("T", "2"))

	// Stale and future expectations on a stream at version 4.
	for _, v := range []int64{0, 1, 2, 3, 5, 100} {
		requireConflict(t, fail(s.Append(ctx, "s1", E(v), ev("T", "x"))), "s1", E(v), 4)
	}
	mustAppend(t, ctx, s, "s1", E(4), 5, ev("T", "5"))

	// Failed appends left nothing behind.
	recs := readStream(t, ctx, s, "s1", 1)
	requireVersions(t, recs, "s1", 1, 5)
	for i, r := range recs {
		require.Equal(t, string(rune('1'+i)), string(r.Data), "s1 event %d holds the data of a failed append", i+1)
	}
	requireVersions(t, readStream(t, ctx, s, "s2", 1), "s2", 1, 2)
	requireVersions(t, readStream(t, ctx, s, "s3", 1), "s3", 1, 2)
}

func testConflictError(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "acc-1", eventstore.NoStream, 2, ev("Opened", "{}"), ev("Deposited", "{}"))
	_, err := s.Append(ctx, "acc-1", eventstore.Exact(1), ev("Withdrawn", "{}"))
	requireConflict(t, err, "acc-1", eventstore.Exact(1), 2)
	require.Contains(t, err.Error(), "acc-1", "the conflict message must name the stream")
	require.NotErrorIs(t, err, eventstore.ErrInvalidArgument)
	require.NotErrorIs(t, err, eventstore.ErrDuplicateEventID)
}

func testMultiEventAppend(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	r1 := mustAppend(t, ctx, s, "m", eventstore.NoStream, 3, ev("A", "1"), ev("B", "2"), ev("C", "3"))
	mustAppend(t, ctx, s, "other", eventstore.NoStream, 1, ev("X", "x"))
	r2 := mustAppend(t, ctx, s, "m", eventstore.Exact(3), 5, ev("D", "4"), ev("E", "5"))

	// A failed multi-event append leaves nothing.
	_, err := s.Append(ctx, "m", eventstore.Exact(3), ev("F", "no"), ev("G", "no"), ev("H", "no"))
	requireConflict(t, err, "m", eventstore.Exact(3), 5)
	_, err = s.Append(ctx, "m", eventstore.Exact(5), ev("F", "no"), eventstore.Event{Data: []byte("no type")})
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "an append with an event without a type must be rejected as a whole")

	recs := readStream(t, ctx, s, "m", 1)
	requireVersions(t, recs, "m", 1, 5)
	positions := append(append([]eventstore.Position{}, r1.Positions...), r2.Positions...)
	for i, r := range recs {
		require.Equal(t, string("ABCDE"[i]), r.Type, "event %d", i+1)
		require.Equal(t, string(rune('1'+i)), string(r.Data), "event %d", i+1)
		require.Equal(t, positions[i], r.Position, "event %d: ReadStream must report the position Append returned", i+1)
	}
	require.Less(t, r1.Positions[2].Offset, r2.Positions[0].Offset, "a later append must be at a later offset")
}

func testBadInput(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "ok", eventstore.NoStream, 1, ev("T", "1"))
	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedVersion
		events   []eventstore.Event
	}{
		{"empty stream ID", "", eventstore.Any, []eventstore.Event{ev("T", "x")}},
		{"stream ID too long", strings.Repeat("x", eventstore.MaxStreamIDLength+1), eventstore.Any, []eventstore.Event{ev("T", "x")}},
		{"stream ID not UTF-8", "bad\xff", eventstore.Any, []eventstore.Event{ev("T", "x")}},
		{"no events", "ok", eventstore.Any, nil},
		{"empty type", "ok", eventstore.Any, []eventstore.Event{ev("T", "x"), {Data: []byte("x")}}},
		{"Exact(-5)", "ok", eventstore.Exact(-5), []eventstore.Event{ev("T", "x")}},
		{"ExpectedVersion(-7)", "ok", eventstore.ExpectedVersion(-7), []eventstore.Event{ev("T", "x")}},
		{"empty metadata key", "ok", eventstore.Any, []eventstore.Event{{Type: "T", Metadata: eventstore.Metadata{Values: map[string]string{"": "v"}}}}},
		{"duplicate ID in one append", "ok", eventstore.Any, []eventstore.Event{evID("dup-1", "T"), evID("dup-1", "T")}},
	}
	for _, c := range cases {
		res, err := s.Append(ctx, c.stream, c.expected, c.events...)
		require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "%s: got %v", c.name, err)
		require.Greater(t, len(err.Error()), len(eventstore.ErrInvalidArgument.Error())+5, "%s: the error must say what was wrong: %q", c.name, err)
		require.Zero(t, res.Version, "%s: a failed append returns a zero result", c.name)
	}
	requireVersions(t, readStream(t, ctx, s, "ok", 1), "ok", 1, 1)

	_, err := collect(t, s.ReadStream(ctx, "", 1))
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "ReadStream with an empty stream ID")
}

func testMetadata(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	before := time.Now().Add(-5 * time.Minute)
	given := eventstore.Event{
		ID:   "3f0c1e9a-6b7d-4c1e-9a55-2c3b4d5e6f70",
		Type: "bank.AccountOpened",
		Data: []byte("{\"owner\":\"Zoë\",\"bin\":\"\x00\x01\xfe\"}"),
		Metadata: eventstore.Metadata{
			CorrelationID: "corr-42",
			CausationID:   "cmd-7",
			Values:        map[string]string{"user": "alice", "traceparent": "00-abc-def-01", "empty": ""},
		},
	}
	generated := []eventstore.Event{{Type: "bank.Deposited", Data: []byte("1")}, {Type: "bank.Deposited", Data: nil}}
	mustAppend(t, ctx, s, "acc", eventstore.NoStream, 3, append([]eventstore.Event{given}, generated...)...)
	after := time.Now().Add(5 * time.Minute)
	require.Empty(t, generated[0].ID, "Append must not write generated IDs into the caller's events")

	check := func(where string, recs []eventstore.RecordedEvent) {
		t.Helper()
		requireVersions(t, recs, "acc", 1, 3)
		got := recs[0]
		require.Equal(t, given.ID, got.ID, "%s: a given event ID must be preserved", where)
		require.Equal(t, given.Type, got.Type, where)
		require.True(t, bytes.Equal(given.Data, got.Data), "%s: data %q, want %q", where, got.Data, given.Data)
		require.Equal(t, given.Metadata, got.Metadata, "%s: metadata must round-trip", where)
		require.Empty(t, recs[1].Metadata.CorrelationID, where)
		require.Empty(t, recs[1].Metadata.Values, where)
		require.Empty(t, recs[2].Data, "%s: nil data reads back empty", where)
		ids := map[string]bool{}
		for _, r := range recs {
			require.NotEmpty(t, r.ID, "%s: an empty event ID must be filled in", where)
			require.False(t, ids[r.ID], "%s: generated IDs must be unique: %q twice", where, r.ID)
			ids[r.ID] = true
			require.False(t, r.RecordedAt.IsZero(), "%s: RecordedAt must be set", where)
			require.Equal(t, time.UTC, r.RecordedAt.Location(), "%s: RecordedAt must be UTC", where)
			require.True(t, r.RecordedAt.After(before) && r.RecordedAt.Before(after), "%s: RecordedAt %v is not around now", where, r.RecordedAt)
		}
	}
	fromStream := readStream(t, ctx, s, "acc", 1)
	check("ReadStream", fromStream)
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	check("ReadAll", all)
	for i := range all {
		require.Equal(t, fromStream[i].ID, all[i].ID, "ReadAll and ReadStream must agree on IDs")
		require.True(t, fromStream[i].RecordedAt.Equal(all[i].RecordedAt), "ReadAll and ReadStream must agree on RecordedAt")
	}
}

func testCopies(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	e := eventstore.Event{Type: "T", Data: []byte("original"), Metadata: eventstore.Metadata{Values: map[string]string{"k": "v"}}}
	mustAppend(t, ctx, s, "c", eventstore.NoStream, 1, e)
	copy(e.Data, "XXXXXXXX")
	e.Metadata.Values["k"] = "changed"

	recs := readStream(t, ctx, s, "c", 1)
	require.Equal(t, "original", string(recs[0].Data), "the store must copy appended data")
	require.Equal(t, "v", recs[0].Metadata.Values["k"], "the store must copy appended metadata")
	copy(recs[0].Data, "YYYYYYYY")
	recs[0].Metadata.Values["k"] = "changed"

	again := readStream(t, ctx, s, "c", 1)
	require.Equal(t, "original", string(again[0].Data), "changing a read event must not change the store")
	require.Equal(t, "v", again[0].Metadata.Values["k"], "changing a read event's metadata must not change the store")
}

// fail returns the error of an append.
func fail(_ eventstore.AppendResult, err error) error { return err }

// requireStreamMissing checks that stream has no events.
func requireStreamMissing(t *testing.T, h *harness, s eventstore.Store, stream string) {
	t.Helper()
	recs, err := collect(t, s.ReadStream(h.ctx(t), stream, 1))
	require.Empty(t, recs, "stream %q must not exist", stream)
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound, "ReadStream of missing stream %q", stream)
}
