package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// contractSentinels are the errors that classify an append error (the
// append error contract, see [eventstore.ErrUnknownOutcome]).
var contractSentinels = []error{
	eventstore.ErrConcurrencyConflict, eventstore.ErrUnavailable, eventstore.ErrUnknownOutcome,
	eventstore.ErrInvalidArgument, eventstore.ErrDuplicateEventID, eventstore.ErrClosed, eventstore.ErrCorruptLog,
}

// requireClass checks that err matches want and no other class of the
// append error contract: a conflict that also claimed an unknown outcome,
// say, would be retried by a repository as if nothing were written.
func requireClass(t *testing.T, err, want error, what string) {
	t.Helper()
	require.ErrorIs(t, err, want, what)
	for _, other := range contractSentinels {
		if other != want && !(want == eventstore.ErrClosed && errors.Is(other, context.Canceled)) {
			require.False(t, errors.Is(err, other), "%s: the error also matches %v: %v", what, other, err)
		}
	}
}

// testAppendErrorClasses: every definite append error the suite can cause
// in any store belongs to exactly one class of the append error contract
// (a conflict, an invalid argument, a duplicate ID, a closed store, the
// caller's own context), never also to the unknown-outcome or unavailable
// classes, and wrote nothing.
func testAppendErrorClasses(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "e", eventstore.NoStream, 1, evID("e-1", "T"))

	_, err := s.Append(ctx, "e", eventstore.Exact(0), ev("T", "x"))
	requireClass(t, err, eventstore.ErrConcurrencyConflict, "conflict")
	_, err = s.Append(ctx, "e", eventstore.NoStream, ev("T", "x"))
	requireClass(t, err, eventstore.ErrConcurrencyConflict, "conflict on NoStream")
	_, err = s.Append(ctx, "", eventstore.Any, ev("T", "x"))
	requireClass(t, err, eventstore.ErrInvalidArgument, "empty stream ID")
	if h.f.Idempotency {
		_, err = s.Append(ctx, "e", eventstore.Exact(1), evID("e-1", "T"), evID("e-2", "T"))
		requireClass(t, err, eventstore.ErrDuplicateEventID, "a partial repeat")
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Append(cancelled, "e", eventstore.Exact(1), ev("T", "x"))
	require.ErrorIs(t, err, context.Canceled)
	for _, other := range contractSentinels {
		require.False(t, errors.Is(err, other), "an append with a cancelled context (nothing was written) matches %v: %v", other, err)
	}
	requireVersions(t, readStream(t, ctx, s, "e", 1), "e", 1, 1)
}

// testReadAfterPeerAppend: ReadStream never returns a short stream as if
// it were complete. Right after another instance's append was
// acknowledged, a read on this instance yields the stream with that
// append, or fails with [eventstore.ErrUnavailable] (then a retry within
// the suite's timeout must include it). Without Features.Peer both
// instances are the same store.
func testReadAfterPeerAppend(t *testing.T, h *harness) {
	s := h.open(t)
	p := h.peer(t, s)
	ctx := h.ctx(t)
	for i := range 20 {
		stream := fmt.Sprintf("peer-%d", i%3)
		var v int64
		for rec, err := range s.ReadStream(ctx, stream, 1) {
			if err != nil {
				break
			}
			v = rec.Version
		}
		res, err := p.Append(ctx, stream, eventstore.Exact(v), ev("T", fmt.Sprint(i)))
		if errors.Is(err, eventstore.ErrConcurrencyConflict) {
			continue
		}
		require.NoError(t, err, "append on the peer")
		for attempt := 0; ; attempt++ {
			recs, err := collect(t, s.ReadStream(ctx, stream, 1))
			if errors.Is(err, eventstore.ErrUnavailable) {
				require.Less(t, attempt, 1000, "ReadStream stays unavailable")
				waitABit(ctx)
				continue
			}
			require.NoError(t, err)
			require.NotEmpty(t, recs)
			require.GreaterOrEqual(t, recs[len(recs)-1].Version, res.Version,
				"ReadStream of %q returned up to version %d after the peer's append to version %d was acknowledged, without an error", stream, recs[len(recs)-1].Version, res.Version)
			break
		}
	}
}
