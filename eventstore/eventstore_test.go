package eventstore_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

func TestExpectedVersion(t *testing.T) {
	E := eventstore.Exact
	cases := []struct {
		e       eventstore.ExpectedVersion
		valid   bool
		str     string
		matches []int64
		misses  []int64
	}{
		{eventstore.Any, true, "any", []int64{0, 1, 99}, nil},
		{eventstore.NoStream, true, "no stream", []int64{0}, []int64{1, 5}},
		{E(0), true, "no stream", []int64{0}, []int64{1}},
		{eventstore.StreamExists, true, "stream exists", []int64{1, 7}, []int64{0}},
		{E(3), true, "3", []int64{3}, []int64{0, 2, 4}},
		{E(-5), false, "invalid", nil, []int64{0, 1, 5}},
		{E(-1), false, "invalid", nil, []int64{0, 1}},
		{eventstore.ExpectedVersion(-7), false, "invalid(-7)", nil, []int64{0, 7}},
	}
	for _, c := range cases {
		assert.Equal(t, c.valid, c.e.Valid(), "%d.Valid()", int64(c.e))
		assert.Contains(t, c.e.String(), c.str)
		for _, v := range c.matches {
			assert.True(t, c.e.Matches(v), "%s must match %d", c.e, v)
		}
		for _, v := range c.misses {
			assert.False(t, c.e.Matches(v), "%s must not match %d", c.e, v)
		}
	}
	assert.NotEqual(t, eventstore.Any, E(-1), "Exact(-1) must not turn into Any")
	assert.NotEqual(t, eventstore.StreamExists, E(-2), "Exact(-2) must not turn into StreamExists")
}

func TestCheckpoint(t *testing.T) {
	var cp eventstore.Checkpoint
	assert.False(t, cp.Includes(eventstore.Position{Partition: 0, Offset: 0}))
	cp = cp.Advance(eventstore.Position{Partition: 1, Offset: 10})
	cp = cp.Advance(eventstore.Position{Partition: 1, Offset: 4}) // never backwards
	cp = cp.Advance(eventstore.Position{Partition: 2, Offset: 0})
	assert.Equal(t, eventstore.Checkpoint{1: 11, 2: 1}, cp)
	assert.True(t, cp.Includes(eventstore.Position{Partition: 1, Offset: 10}))
	assert.False(t, cp.Includes(eventstore.Position{Partition: 1, Offset: 11}))
	assert.False(t, cp.Includes(eventstore.Position{Partition: 3, Offset: 0}))

	c := cp.Clone()
	c[1] = 99
	assert.Equal(t, int64(11), cp[1], "Clone must copy")
	assert.Equal(t, eventstore.Checkpoint{}, eventstore.Checkpoint(nil).Clone())
	assert.Equal(t, "3/42", eventstore.Position{Partition: 3, Offset: 42}.String())
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewEventID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := eventstore.NewEventID()
		require.Regexp(t, uuidRE, id)
		require.False(t, seen[id])
		seen[id] = true
	}
}

func TestPrepareAppend(t *testing.T) {
	in := []eventstore.Event{{Type: "A"}, {ID: "given", Type: "B"}}
	out, err := eventstore.PrepareAppend("s", eventstore.Any, in)
	require.NoError(t, err)
	assert.Regexp(t, uuidRE, out[0].ID)
	assert.Equal(t, "given", out[1].ID)
	assert.Empty(t, in[0].ID, "the caller's slice must not change")

	bad := []struct {
		stream string
		exp    eventstore.ExpectedVersion
		events []eventstore.Event
		want   string
	}{
		{"", eventstore.Any, in, "empty stream ID"},
		{strings.Repeat("x", eventstore.MaxStreamIDLength+1), eventstore.Any, in, "longer than the limit"},
		{"\xff", eventstore.Any, in, "UTF-8"},
		{"s", eventstore.Exact(-5), in, "not valid"},
		{"s", eventstore.Any, nil, "no events"},
		{"s", eventstore.Any, []eventstore.Event{{Type: "A"}, {}}, "event 1"},
		{"s", eventstore.Any, []eventstore.Event{{Type: "A", Metadata: eventstore.Metadata{Values: map[string]string{"": "x"}}}}, "empty metadata key"},
		{"s", eventstore.Any, []eventstore.Event{{ID: "x", Type: "A"}, {ID: "x", Type: "A"}}, `share the ID "x"`},
	}
	for _, b := range bad {
		_, err := eventstore.PrepareAppend(b.stream, b.exp, b.events)
		require.ErrorIs(t, err, eventstore.ErrInvalidArgument, b.want)
		assert.Contains(t, err.Error(), b.want)
	}
	_, err = eventstore.PrepareAppend(strings.Repeat("x", eventstore.MaxStreamIDLength), eventstore.Any, in)
	assert.NoError(t, err, "a stream ID of exactly the limit is fine")
}

func TestCheckIdempotent(t *testing.T) {
	// The stream holds a@1 b@2 c@3.
	stored := map[string]int64{"a": 1, "b": 2, "c": 3}
	lookup := func(id string) (int64, bool) { v, ok := stored[id]; return v, ok }
	evs := func(ids ...string) []eventstore.Event {
		out := make([]eventstore.Event, len(ids))
		for i, id := range ids {
			out[i] = eventstore.Event{ID: id, Type: "T"}
		}
		return out
	}
	E := eventstore.Exact
	cases := []struct {
		name   string
		exp    eventstore.ExpectedVersion
		ids    []string
		repeat bool
		last   int64
		dup    bool
	}{
		{"all new", E(3), []string{"x", "y"}, false, 0, false},
		{"repeat at the start", eventstore.NoStream, []string{"a", "b"}, true, 2, false},
		{"repeat with Any", eventstore.Any, []string{"b", "c"}, true, 3, false},
		{"repeat with StreamExists", eventstore.StreamExists, []string{"c"}, true, 3, false},
		{"repeat at exact place", E(1), []string{"b", "c"}, true, 3, false},
		{"wrong place", E(2), []string{"b", "c"}, false, 0, true},
		{"partial", E(3), []string{"c", "x"}, false, 0, true},
		{"out of order", eventstore.NoStream, []string{"b", "a"}, false, 0, true},
		{"gap", eventstore.NoStream, []string{"a", "c"}, false, 0, true},
	}
	for _, c := range cases {
		repeat, last, err := eventstore.CheckIdempotent("s", c.exp, 3, evs(c.ids...), lookup)
		assert.Equal(t, c.repeat, repeat, c.name)
		assert.Equal(t, c.last, last, c.name)
		if c.dup {
			assert.ErrorIs(t, err, eventstore.ErrDuplicateEventID, c.name)
		} else {
			assert.NoError(t, err, c.name)
		}
	}
}

func TestConflictError(t *testing.T) {
	var err error = &eventstore.ConflictError{StreamID: "acc-1", Expected: eventstore.Exact(2), Actual: 5}
	assert.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	assert.False(t, errors.Is(err, eventstore.ErrStreamNotFound))
	assert.Equal(t, `eventstore: concurrency conflict on stream "acc-1": expected version 2, actual 5; reload and retry`, err.Error())
	unknown := &eventstore.ConflictError{StreamID: "s", Expected: eventstore.NoStream, Actual: -1}
	assert.Contains(t, unknown.Error(), "unknown")
	assert.Contains(t, unknown.Error(), "no stream")
}

func TestMetadataContext(t *testing.T) {
	_, ok := eventstore.MetadataFromContext(context.Background())
	assert.False(t, ok)
	md := eventstore.Metadata{CorrelationID: "c"}
	got, ok := eventstore.MetadataFromContext(eventstore.ContextWithMetadata(context.Background(), md))
	assert.True(t, ok)
	assert.Equal(t, md, got)
}
