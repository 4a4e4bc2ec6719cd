package eventstoretest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// testReadFilters: ReadAll and Subscribe with WithTypes and
// WithStreamPrefix yield exactly the matching events, in log order, and
// nothing else; no option means everything.
func testReadFilters(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	type want struct{ stream, typ string }
	plan := []want{
		{"order-1", "Placed"}, {"acc-1", "Opened"}, {"order-1", "Paid"}, {"order-2", "Placed"},
		{"acc-1", "Deposited"}, {"acc-2", "Opened"}, {"order-1", "Shipped"}, {"acc-1", "Deposited"},
	}
	versions := map[string]int64{}
	for i, p := range plan {
		v := versions[p.stream]
		mustAppend(t, ctx, s, p.stream, eventstore.Exact(v), v+1, evID(fmt.Sprintf("filter-%d", i), p.typ))
		versions[p.stream] = v + 1
	}
	match := func(keep func(w want) bool) []want {
		var out []want
		for _, p := range plan {
			if keep(p) {
				out = append(out, p)
			}
		}
		return out
	}
	got := func(recs []eventstore.RecordedEvent) []want {
		var out []want
		for _, r := range recs {
			out = append(out, want{r.StreamID, r.Type})
		}
		return out
	}
	cases := []struct {
		name string
		opts []eventstore.ReadOption
		keep func(w want) bool
	}{
		{"none", nil, func(want) bool { return true }},
		{"types", []eventstore.ReadOption{eventstore.WithTypes("Placed", "Deposited")},
			func(w want) bool { return w.typ == "Placed" || w.typ == "Deposited" }},
		{"prefix", []eventstore.ReadOption{eventstore.WithStreamPrefix("order-")},
			func(w want) bool { return strings.HasPrefix(w.stream, "order-") }},
		{"both", []eventstore.ReadOption{eventstore.WithStreamPrefix("acc-"), eventstore.WithTypes("Opened")},
			func(w want) bool { return strings.HasPrefix(w.stream, "acc-") && w.typ == "Opened" }},
		{"no match", []eventstore.ReadOption{eventstore.WithTypes("Nothing")}, func(want) bool { return false }},
	}
	for _, tc := range cases {
		recs, err := collect(t, s.ReadAll(ctx, nil, tc.opts...))
		require.NoError(t, err, "ReadAll %s", tc.name)
		require.ElementsMatch(t, match(tc.keep), got(recs), "ReadAll %s yields exactly the matching events", tc.name)
		requireOrderWithin(t, recs)

		subCtx, cancel := context.WithCancel(ctx)
		sub := consume(s.Subscribe(subCtx, nil, tc.opts...))
		n := len(match(tc.keep))
		if n > 0 {
			live := sub.nextEvents(t, h.f.Timeout, n)
			require.ElementsMatch(t, match(tc.keep), got(live), "Subscribe %s catches up with exactly the matching events", tc.name)
		}
		cancel()
	}

	// A live subscription with a filter gets the matching new events only.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := consume(s.Subscribe(subCtx, nil, eventstore.WithTypes("Refunded")))
	mustAppend(t, ctx, s, "acc-3", eventstore.NoStream, 1, evID(fmt.Sprintf("filter-%d", 100), "Opened"))
	mustAppend(t, ctx, s, "acc-3", eventstore.Exact(1), 2, evID(fmt.Sprintf("filter-%d", 101), "Refunded"))
	live := sub.nextEvents(t, h.f.Timeout, 1)
	require.Equal(t, []want{{"acc-3", "Refunded"}}, got(live))
}

// requireOrderWithin checks that the events of each stream come in
// version order and each partition in offset order (a filtered read has
// gaps in versions, not disorder).
func requireOrderWithin(t *testing.T, recs []eventstore.RecordedEvent) {
	t.Helper()
	lastVersion := map[string]int64{}
	lastOffset := map[int32]int64{}
	for _, r := range recs {
		require.Greater(t, r.Version, lastVersion[r.StreamID], "stream %q out of order", r.StreamID)
		lastVersion[r.StreamID] = r.Version
		if o, ok := lastOffset[r.Position.Partition]; ok {
			require.Less(t, o, r.Position.Offset, "partition %d out of offset order", r.Position.Partition)
		}
		lastOffset[r.Position.Partition] = r.Position.Offset
	}
}
