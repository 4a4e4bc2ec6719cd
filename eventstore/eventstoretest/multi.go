package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// multi returns s as a MultiAppender, or skips the test saying why.
func multi(t *testing.T, s eventstore.Store) eventstore.MultiAppender {
	t.Helper()
	m, ok := s.(eventstore.MultiAppender)
	if !ok {
		t.Skipf("the store %T does not implement eventstore.MultiAppender (an optional capability)", s)
	}
	return m
}

// testMultiAppend appends to several streams at once and reads the result
// back, stream by stream and from the global log.
func testMultiAppend(t *testing.T, h *harness) {
	s := h.open(t)
	m := multi(t, s)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "m-b", eventstore.NoStream, 1, evID("b1", "T"))

	res, err := m.AppendMulti(ctx,
		eventstore.StreamAppend{StreamID: "m-a", Expected: eventstore.NoStream, Events: []eventstore.Event{evID("a1", "T"), evID("a2", "T")}},
		eventstore.StreamAppend{StreamID: "m-b", Expected: eventstore.Exact(1), Events: []eventstore.Event{evID("b2", "T")}},
		eventstore.StreamAppend{StreamID: "m-c", Expected: eventstore.Any, Events: []eventstore.Event{evID("c1", "T")}},
		eventstore.StreamAppend{StreamID: "m-d", Expected: eventstore.NoStream}, // a condition on a missing stream
	)
	require.NoError(t, err)
	require.Len(t, res, 4, "one result per entry, in order")
	require.Equal(t, int64(2), res[0].Version)
	require.Len(t, res[0].Positions, 2)
	require.Equal(t, int64(2), res[1].Version)
	require.Len(t, res[1].Positions, 1)
	require.Equal(t, int64(1), res[2].Version)
	require.Equal(t, int64(0), res[3].Version, "a condition's result is the stream's version")
	require.Empty(t, res[3].Positions, "a condition writes nothing")

	requireVersions(t, readStream(t, ctx, s, "m-a", 1), "m-a", 1, 2)
	requireVersions(t, readStream(t, ctx, s, "m-b", 1), "m-b", 1, 2)
	requireVersions(t, readStream(t, ctx, s, "m-c", 1), "m-c", 1, 1)
	requireStreamMissing(t, h, s, "m-d")
	got := readStream(t, ctx, s, "m-b", 2)
	require.Equal(t, "b2", got[0].ID)
	require.Equal(t, res[1].Positions[0], got[0].Position, "the position returned is where the event is")

	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"b1", "a1", "a2", "b2", "c1"}, ids(all))
	requireLogOrder(t, all)

	// A peer sees all of it.
	p := h.peer(t, s)
	requireEventually(t, h, func() bool {
		recs, err := collect(t, p.ReadStream(ctx, "m-c", 1))
		return err == nil && len(recs) == 1
	}, "a peer must see the multi-stream append")
	requireVersions(t, readStream(t, ctx, p, "m-a", 1), "m-a", 1, 2)
	requireVersions(t, readStream(t, ctx, p, "m-b", 1), "m-b", 1, 2)
}

// testMultiAppendConflict checks that a multi-stream append whose
// conditions do not all hold writes nothing and names every failed stream.
func testMultiAppendConflict(t *testing.T, h *harness) {
	s := h.open(t)
	m := multi(t, s)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "m-a", eventstore.NoStream, 1, ev("T", "1"))
	mustAppend(t, ctx, s, "m-c", eventstore.NoStream, 2, ev("T", "1"), ev("T", "2"))

	_, err := m.AppendMulti(ctx,
		eventstore.StreamAppend{StreamID: "m-a", Expected: eventstore.Exact(1), Events: []eventstore.Event{ev("T", "ok")}},
		eventstore.StreamAppend{StreamID: "m-b", Expected: eventstore.StreamExists, Events: []eventstore.Event{ev("T", "no")}},
		eventstore.StreamAppend{StreamID: "m-c", Expected: eventstore.Exact(1)}, // a failed condition
		eventstore.StreamAppend{StreamID: "m-d", Expected: eventstore.NoStream, Events: []eventstore.Event{ev("T", "ok")}},
	)
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	var mce *eventstore.MultiConflictError
	require.ErrorAs(t, err, &mce, "a multi-stream conflict is an *eventstore.MultiConflictError")
	require.Len(t, mce.Conflicts, 2, "every failed stream is named, and only those: %v", err)
	require.Equal(t, "m-b", mce.Conflicts[0].StreamID)
	require.Equal(t, int64(0), mce.Conflicts[0].Actual)
	require.Equal(t, "m-c", mce.Conflicts[1].StreamID)
	require.Equal(t, eventstore.Exact(1), mce.Conflicts[1].Expected)
	require.Equal(t, int64(2), mce.Conflicts[1].Actual)
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce, "errors.As finds the first *ConflictError")
	require.Equal(t, "m-b", ce.StreamID)
	require.Contains(t, err.Error(), `"m-c"`)

	requireVersions(t, readStream(t, ctx, s, "m-a", 1), "m-a", 1, 1)
	requireStreamMissing(t, h, s, "m-b")
	requireStreamMissing(t, h, s, "m-d")
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	require.Len(t, all, 3, "nothing of the failed append may be written")
}

// testMultiAppendCondition checks condition-only entries: a condition that
// holds lets the writes through and leaves its stream alone; one that
// does not fails the append.
func testMultiAppendCondition(t *testing.T, h *harness) {
	s := h.open(t)
	m := multi(t, s)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "m-policy", eventstore.NoStream, 1, ev("T", "limit=100"))
	read := func() ([]eventstore.AppendResult, error) {
		return m.AppendMulti(ctx,
			eventstore.StreamAppend{StreamID: "m-policy", Expected: eventstore.Exact(1)},
			eventstore.StreamAppend{StreamID: "m-order", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", "under the limit")}},
		)
	}
	res, err := read()
	require.NoError(t, err)
	require.Equal(t, int64(1), res[0].Version)
	require.Equal(t, int64(1), res[1].Version)
	requireVersions(t, readStream(t, ctx, s, "m-policy", 1), "m-policy", 1, 1)

	mustAppend(t, ctx, h.peer(t, s), "m-policy", eventstore.Exact(1), 2, ev("T", "limit=50"))
	requireEventually(t, h, func() bool {
		v, err := lastVersion(ctx, s, "m-policy")
		return err == nil && v == 2
	}, "the store must see the peer's append")
	_, err = read()
	var mce *eventstore.MultiConflictError
	require.ErrorAs(t, err, &mce)
	require.Len(t, mce.Conflicts, 1)
	require.Equal(t, "m-policy", mce.Conflicts[0].StreamID)
	requireVersions(t, readStream(t, ctx, s, "m-order", 1), "m-order", 1, 1)
}

// testMultiAppendIdempotency repeats a multi-stream append with the same
// event IDs: the repeat returns the first results and writes nothing.
func testMultiAppendIdempotency(t *testing.T, h *harness) {
	if !h.f.Idempotency {
		t.Skip("the store does not claim idempotent appends (Features.Idempotency)")
	}
	s := h.open(t)
	m := multi(t, s)
	ctx := h.ctx(t)
	appends := []eventstore.StreamAppend{
		{StreamID: "m-a", Expected: eventstore.NoStream, Events: []eventstore.Event{evID("i-a1", "T"), evID("i-a2", "T")}},
		{StreamID: "m-b", Expected: eventstore.NoStream, Events: []eventstore.Event{evID("i-b1", "T")}},
		{StreamID: "m-c", Expected: eventstore.NoStream},
	}
	first, err := m.AppendMulti(ctx, appends...)
	require.NoError(t, err)
	mustAppend(t, ctx, s, "m-c", eventstore.NoStream, 1, ev("T", "later")) // the condition no longer holds
	again, err := m.AppendMulti(ctx, appends...)
	require.NoError(t, err, "a repeat of a written multi-stream append is a no-op")
	require.Equal(t, first[0], again[0])
	require.Equal(t, first[1], again[1])
	requireIDs(t, h, s, "m-a", "i-a1", "i-a2")
	requireIDs(t, h, s, "m-b", "i-b1")

	// Part of it again, with a new stream: not a repeat.
	_, err = m.AppendMulti(ctx,
		eventstore.StreamAppend{StreamID: "m-a", Expected: eventstore.NoStream, Events: []eventstore.Event{evID("i-a1", "T"), evID("i-a2", "T")}},
		eventstore.StreamAppend{StreamID: "m-e", Expected: eventstore.NoStream, Events: []eventstore.Event{evID("i-e1", "T")}},
	)
	require.ErrorIs(t, err, eventstore.ErrDuplicateEventID)
	requireStreamMissing(t, h, s, "m-e")
}

// testMultiAppendBadInput checks the ErrInvalidArgument cases.
func testMultiAppendBadInput(t *testing.T, h *harness) {
	s := h.open(t)
	m := multi(t, s)
	ctx := h.ctx(t)
	cases := map[string][]eventstore.StreamAppend{
		"no entries": nil,
		"only conditions": {
			{StreamID: "m-a", Expected: eventstore.NoStream},
			{StreamID: "m-b", Expected: eventstore.Any},
		},
		"a stream twice": {
			{StreamID: "m-a", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", "1")}},
			{StreamID: "m-a", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", "2")}},
		},
		"an event ID twice": {
			{StreamID: "m-a", Expected: eventstore.Any, Events: []eventstore.Event{evID("same", "T")}},
			{StreamID: "m-b", Expected: eventstore.Any, Events: []eventstore.Event{evID("same", "T")}},
		},
		"an empty stream ID": {
			{StreamID: "m-a", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", "1")}},
			{StreamID: "", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", "2")}},
		},
		"an event without type": {
			{StreamID: "m-a", Expected: eventstore.Any, Events: []eventstore.Event{{Data: []byte("x")}}},
		},
		"a bad expected version on a condition": {
			{StreamID: "m-a", Expected: eventstore.Any, Events: []eventstore.Event{ev("T", "1")}},
			{StreamID: "m-b", Expected: eventstore.ExpectedVersion(-17)},
		},
	}
	for name, appends := range cases {
		_, err := m.AppendMulti(ctx, appends...)
		require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "%s: %v", name, err)
	}
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	require.Empty(t, all)
}

// testMultiAppendTransfers has writers on the store and its peer move
// money between accounts with two-stream appends, each on the versions it
// read, retrying conflicts. Afterwards every account's versions are
// 1..n, every acknowledged transfer is in the log exactly once with both
// halves, every failed one is absent, and money is conserved.
func testMultiAppendTransfers(t *testing.T, h *harness) {
	s := h.open(t)
	multi(t, s)
	stores := h.writers(t, s)
	ctx := h.ctx(t)
	const (
		accounts  = 5
		initial   = 1000
		perWriter = 6
	)
	account := func(i int) string { return fmt.Sprintf("acct-%d", i) }
	for i := range accounts {
		mustAppend(t, ctx, s, account(i), eventstore.NoStream, 1, ev("Opened", strconv.Itoa(initial)))
	}
	var (
		mu     sync.Mutex
		acked  = map[string][2]string{} // transfer ID -> from, to
		failed = map[string]bool{}
		errs   []error
		wg     sync.WaitGroup
	)
	for w, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := range perWriter {
				from, to := rng.IntN(accounts), rng.IntN(accounts-1)
				if to >= from {
					to++
				}
				id := fmt.Sprintf("t-%d-%d", w, n)
				amount := 1 + rng.IntN(50)
				err := transfer(ctx, st, account(from), account(to), id, amount)
				mu.Lock()
				switch {
				case err == nil:
					acked[id] = [2]string{account(from), account(to)}
				case errors.Is(err, eventstore.ErrConcurrencyConflict):
					failed[id] = true // gave up after many conflicts: must be absent
				default:
					errs = append(errs, fmt.Errorf("writer %d, transfer %s: %w", w, id, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	require.NotEmpty(t, acked)

	p := stores[len(stores)-1]
	total, halves := 0, map[string]int{}
	for i := range accounts {
		var recs []eventstore.RecordedEvent
		want := 0
		for _, ft := range acked {
			if ft[0] == account(i) || ft[1] == account(i) {
				want++
			}
		}
		requireEventually(t, h, func() bool {
			var err error
			recs, err = collect(t, p.ReadStream(ctx, account(i), 1))
			if err != nil {
				return false
			}
			n := 0
			for _, r := range recs {
				if id, _, ok := strings.Cut(string(r.Data), ":"); ok {
					if _, yes := acked[id]; yes {
						n++
					}
				}
			}
			return n >= want
		}, "every store must see the acknowledged transfers")
		requireVersions(t, recs, account(i), 1, len(recs))
		for _, r := range recs[1:] {
			id, amount, ok := strings.Cut(string(r.Data), ":")
			require.True(t, ok, "event %q", r.Data)
			v, err := strconv.Atoi(amount)
			require.NoError(t, err)
			total += v
			halves[id]++
		}
	}
	require.Zero(t, total, "money must be conserved: the debits and credits of the log do not cancel out")
	for id := range acked {
		require.Equal(t, 2, halves[id], "acknowledged transfer %s must be in the log exactly once with both halves", id)
	}
	for id := range failed {
		require.Zero(t, halves[id], "failed transfer %s must be absent", id)
	}
	require.Len(t, halves, len(acked), "the log holds exactly the acknowledged transfers")
}

// transfer moves amount from one account to another: it reads both
// versions and writes a debit and a credit in one multi-stream append on
// those versions, retrying conflicts a bounded number of times.
func transfer(ctx context.Context, st eventstore.Store, from, to, id string, amount int) error {
	var err error
	for range 50 {
		var vf, vt int64
		if vf, err = lastVersion(ctx, st, from); err != nil {
			return err
		}
		if vt, err = lastVersion(ctx, st, to); err != nil {
			return err
		}
		_, err = eventstore.AppendMulti(ctx, st,
			eventstore.StreamAppend{StreamID: from, Expected: eventstore.Exact(vf), Events: []eventstore.Event{{ID: id + "-debit", Type: "Debited", Data: []byte(id + ":" + strconv.Itoa(-amount))}}},
			eventstore.StreamAppend{StreamID: to, Expected: eventstore.Exact(vt), Events: []eventstore.Event{{ID: id + "-credit", Type: "Credited", Data: []byte(id + ":" + strconv.Itoa(amount))}}},
		)
		if !errors.Is(err, eventstore.ErrConcurrencyConflict) {
			return err
		}
	}
	return err
}

// testMultiAppendWriteSkew races pairs of appends that each write one
// stream on the condition that the other's stream is unchanged, round
// after round: at most one of each pair may win (the write-skew anomaly
// a store with read conditions must rule out).
func testMultiAppendWriteSkew(t *testing.T, h *harness) {
	s := h.open(t)
	multi(t, s)
	p := h.peer(t, s)
	ctx := h.ctx(t)
	const rounds = 8
	for r := range rounds {
		x, y := fmt.Sprintf("skew-x-%d", r), fmt.Sprintf("skew-y-%d", r)
		mustAppend(t, ctx, s, x, eventstore.NoStream, 1, ev("T", "0"))
		mustAppend(t, ctx, s, y, eventstore.NoStream, 1, ev("T", "0"))
		requireEventually(t, h, func() bool {
			v, err := lastVersion(ctx, p, y)
			return err == nil && v == 1
		}, "the peer must see the setup")
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, w := range []struct {
			st          eventstore.Store
			write, cond string
		}{{s, x, y}, {p, y, x}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = eventstore.AppendMulti(ctx, w.st,
					eventstore.StreamAppend{StreamID: w.write, Expected: eventstore.Exact(1), Events: []eventstore.Event{ev("T", "1")}},
					eventstore.StreamAppend{StreamID: w.cond, Expected: eventstore.Exact(1)},
				)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict, "round %d", r)
			}
		}
		require.False(t, errs[0] == nil && errs[1] == nil, "round %d: both appends won, each on the condition that the other's stream was unchanged (write skew)", r)
		vx, err := lastVersion(ctx, p, x)
		require.NoError(t, err)
		vy, err := lastVersion(ctx, p, y)
		require.NoError(t, err)
		require.LessOrEqual(t, vx+vy, int64(3), "round %d: at most one write", r)
	}
}
