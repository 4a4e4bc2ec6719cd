package eventstoretest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

func testSubscribe(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)

	// A subscription on an empty store waits for the first event.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := consume(s.Subscribe(subCtx, nil))
	mustAppend(t, ctx, s, "a", eventstore.NoStream, 2, ev("T", "1"), ev("T", "2"))
	got := sub.nextEvents(t, h.f.Timeout, 2)
	requireVersions(t, got, "a", 1, 2)

	// Catch-up, then live.
	mustAppend(t, ctx, s, "b", eventstore.NoStream, 1, ev("T", "1"))
	sub2Ctx, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	sub2 := consume(s.Subscribe(sub2Ctx, nil))
	caught := sub2.nextEvents(t, h.f.Timeout, 3)
	requireLogOrder(t, caught)

	mustAppend(t, ctx, s, "a", eventstore.Exact(2), 3, ev("T", "3"))
	mustAppend(t, ctx, s, "c", eventstore.NoStream, 2, ev("T", "1"), ev("T", "2"))
	live := sub2.nextEvents(t, h.f.Timeout, 3)
	requireLogOrder(t, append(caught, live...))
	all := append(got, sub.nextEvents(t, h.f.Timeout, 4)...)
	requireLogOrder(t, all)

	// Everything the subscriptions saw is what ReadAll sees.
	logged, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	require.ElementsMatch(t, ids(logged), ids(all))
	require.ElementsMatch(t, ids(logged), ids(append(caught, live...)))

	// Cancelling the context ends the subscription with the context error.
	cancel2()
	err = sub2.requireEnds(t, h.f.Timeout)
	require.ErrorIs(t, err, context.Canceled, "a cancelled subscription must yield ctx.Err() and stop")
	cancel()
	require.ErrorIs(t, sub.requireEnds(t, h.f.Timeout), context.Canceled)
}

func testSubscribeFromCheckpoint(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	r := mustAppend(t, ctx, s, "a", eventstore.NoStream, 3, ev("T", "1"), ev("T", "2"), ev("T", "3"))
	cp := eventstore.Checkpoint{}.Advance(r.Positions[0]).Advance(r.Positions[1])

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := consume(s.Subscribe(subCtx, cp))
	requireVersions(t, sub.nextEvents(t, h.f.Timeout, 1), "a", 3, 1)
	mustAppend(t, ctx, s, "a", eventstore.Exact(3), 4, ev("T", "4"))
	requireVersions(t, sub.nextEvents(t, h.f.Timeout, 1), "a", 4, 1)
	cancel()
	require.ErrorIs(t, sub.requireEnds(t, h.f.Timeout), context.Canceled)
}

func testSubscribeBreak(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "a", eventstore.NoStream, 2, ev("T", "1"), ev("T", "2"))

	// Breaking out of the loop ends the subscription (the iterator returns)
	// without cancelling the context.
	returned := make(chan error, 1)
	go func() {
		var err error
		for _, e := range s.Subscribe(ctx, nil) {
			err = e
			break
		}
		returned <- err
	}()
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(h.f.Timeout):
		t.Fatalf("the iterator did not return within %v after the consumer broke out of the loop", h.f.Timeout)
	}

	// Breaking while the subscription waits for new events: the next event
	// reaches the consumer, which breaks.
	sub := consume(s.Subscribe(ctx, nil))
	sub.nextEvents(t, h.f.Timeout, 2)
	close(sub.stop)
	mustAppend(t, ctx, s, "a", eventstore.Exact(2), 3, ev("T", "3"))
	sub.requireDone(t, h.f.Timeout)
	// The store keeps working.
	requireVersions(t, readStream(t, ctx, s, "a", 1), "a", 1, 3)
}

func testSubscribePeer(t *testing.T, h *harness) {
	if h.f.Peer == nil {
		t.Skip("Features.Peer not set")
	}
	s := h.open(t)
	p := h.peer(t, s)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "a", eventstore.NoStream, 1, ev("T", "1"))

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := consume(p.Subscribe(subCtx, nil))
	requireVersions(t, sub.nextEvents(t, h.f.Timeout, 1), "a", 1, 1)
	mustAppend(t, ctx, s, "a", eventstore.Exact(1), 2, ev("T", "2"))
	requireVersions(t, sub.nextEvents(t, h.f.Timeout, 1), "a", 2, 1)
	// And the other way round: the peer writes, the first store reads.
	mustAppend(t, ctx, p, "b", eventstore.NoStream, 1, ev("T", "1"))
	requireVersions(t, sub.nextEvents(t, h.f.Timeout, 1), "b", 1, 1)
	requireEventually(t, h, func() bool {
		recs, err := collect(t, s.ReadStream(ctx, "b", 1))
		return err == nil && len(recs) == 1
	}, "the first store must see the peer's append")
	cancel()
	require.ErrorIs(t, sub.requireEnds(t, h.f.Timeout), context.Canceled)
}

// ids returns the IDs of recs.
func ids(recs []eventstore.RecordedEvent) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// requireEventually polls cond until it holds or the suite's timeout passes.
// Stores may make another instance's appends visible with a delay; a read
// that catches up does so on the first try.
func requireEventually(t *testing.T, h *harness, cond func() bool, msg string) {
	t.Helper()
	ctx := h.ctx(t)
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("%s (waited %v)", msg, h.f.Timeout)
		}
		waitABit(ctx)
	}
}

// testSubscribeWhileAppending starts a subscription while writers append
// concurrently: the hand-over from catch-up to live reading must neither
// lose nor repeat an event.
func testSubscribeWhileAppending(t *testing.T, h *harness) {
	s := h.open(t)
	stores := h.writers(t, s)
	ctx := h.ctx(t)
	const perWriter = 5
	for w := range stores {
		mustAppend(t, ctx, s, fmt.Sprintf("w%d", w), eventstore.NoStream, 1, ev("T", "0"))
	}

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(stores))
	start := make(chan struct{})
	for w, st := range stores {
		go func() {
			<-start
			stream := fmt.Sprintf("w%d", w)
			for i := 1; i <= perWriter; i++ {
				if _, err := st.Append(ctx, stream, eventstore.Exact(int64(i)), ev("T", fmt.Sprint(i))); err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	close(start)
	sub := consume(s.Subscribe(subCtx, nil))
	got := sub.nextEvents(t, h.f.Timeout, len(stores)*(perWriter+1))
	for range stores {
		require.NoError(t, <-errs)
	}
	requireLogOrder(t, got)
	seen := map[string]bool{}
	for _, r := range got {
		key := fmt.Sprintf("%s@%d", r.StreamID, r.Version)
		require.False(t, seen[key], "subscription yielded %s twice", key)
		seen[key] = true
	}

	// ReadAll stops at the end of the log as of its start, even while
	// appends go on: here every event it yields causes another append, so
	// a ReadAll that chased the end of the log would never stop.
	before, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	n, v := 0, int64(perWriter+1)
	for _, err := range s.ReadAll(ctx, nil) {
		require.NoError(t, err)
		if n++; n > len(before) {
			t.Fatalf("ReadAll yielded more than the %d events the log held when it started: it must stop at the end of the log as of its start", len(before))
		}
		_, err := s.Append(ctx, "w0", eventstore.Exact(v), ev("T", "more"))
		require.NoError(t, err, "append while a ReadAll is in progress")
		v++
	}
	require.Equal(t, len(before), n)
	cancel()
	require.ErrorIs(t, sub.requireEndsIgnoringEvents(t, h.f.Timeout), context.Canceled, "a cancelled subscription must yield ctx.Err() and stop")
}
