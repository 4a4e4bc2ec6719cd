package eventstoretest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

func testClose(t *testing.T, h *harness) {
	s := h.open(t)
	ctx := h.ctx(t)
	mustAppend(t, ctx, s, "a", eventstore.NoStream, 1, ev("T", "1"))

	// A running subscription ends with ErrClosed when the store closes.
	sub := consume(s.Subscribe(ctx, nil))
	sub.nextEvents(t, h.f.Timeout, 1)

	require.NoError(t, s.Close(), "first Close")
	err := sub.requireEnds(t, h.f.Timeout)
	require.ErrorIs(t, err, eventstore.ErrClosed, "a subscription running at Close must end with ErrClosed")

	_, err = s.Append(ctx, "a", eventstore.Exact(1), ev("T", "2"))
	require.ErrorIs(t, err, eventstore.ErrClosed, "Append after Close")
	_, err = collect(t, s.ReadStream(ctx, "a", 1))
	require.ErrorIs(t, err, eventstore.ErrClosed, "ReadStream after Close")
	_, err = collect(t, s.ReadAll(ctx, nil))
	require.ErrorIs(t, err, eventstore.ErrClosed, "ReadAll after Close")
	after := consume(s.Subscribe(ctx, nil))
	require.ErrorIs(t, after.requireEnds(t, h.f.Timeout), eventstore.ErrClosed, "Subscribe after Close")

	if err := s.Close(); err != nil {
		require.ErrorIs(t, err, eventstore.ErrClosed, "a second Close returns nil or ErrClosed")
	}
}
