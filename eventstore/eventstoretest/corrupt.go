package eventstoretest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// testCorruptStream writes an event that claims version 5 of a stream at
// version 3 around the store (Features.Corrupt, a foreign writer) and
// checks what every store must do with a corrupt stream: loads stop at the
// bad record with ErrCorruptLog; appends to the stream are refused with
// ErrCorruptLog whatever the expected version, and write nothing; ReadAll
// and Subscribe yield the bad record as an ErrCorruptLog error at its
// position and go on; other streams carry on.
func testCorruptStream(t *testing.T, h *harness) {
	if h.f.Corrupt == nil {
		t.Skip("eventstoretest: Features.Corrupt is nil: the store's log cannot be written around it")
	}
	s := h.open(t)
	ctx := h.ctx(t)
	for i := int64(1); i <= 3; i++ {
		mustAppend(t, ctx, s, "c", eventstore.Exact(i-1), i, ev("C", "x"))
	}
	bad := h.f.Corrupt(t, s, "c", 5)
	mustAppend(t, ctx, s, "ok", eventstore.NoStream, 1, ev("O", "x"))

	var n int
	var loadErr error
	for _, err := range s.ReadStream(ctx, "c", 1) {
		if err != nil {
			loadErr = err
			break
		}
		n++
	}
	require.ErrorIs(t, loadErr, eventstore.ErrCorruptLog, "ReadStream of the corrupt stream")
	require.Equal(t, 3, n, "the valid events come before the error")

	for _, exp := range []eventstore.ExpectedVersion{eventstore.Exact(3), eventstore.Exact(5), eventstore.Any, eventstore.StreamExists} {
		_, err := s.Append(ctx, "c", exp, ev("C", "y"))
		require.ErrorIs(t, err, eventstore.ErrCorruptLog, "append with expected %v to the corrupt stream", exp)
	}
	mustAppend(t, ctx, s, "ok", eventstore.Exact(1), 2, ev("O", "y"))

	var versions []int64
	var flagged []eventstore.RecordedEvent
	for e, err := range s.ReadAll(ctx, nil) {
		switch {
		case errors.Is(err, eventstore.ErrCorruptLog):
			flagged = append(flagged, e)
		case err != nil:
			t.Fatalf("ReadAll: %v", err)
		case e.StreamID == "c":
			versions = append(versions, e.Version)
		}
	}
	require.Equal(t, []int64{1, 2, 3}, versions, "ReadAll yields the valid events of the corrupt stream, and none appended after the bad record")
	require.Len(t, flagged, 1, "ReadAll yields the bad record as an error")
	require.Equal(t, bad, flagged[0].Position, "the error comes with the bad record's position")

	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	var seen, bads int
	for _, err := range s.Subscribe(sub, nil) {
		if errors.Is(err, eventstore.ErrCorruptLog) {
			bads++
		} else if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		if seen++; seen == 6 { // c1..3, the bad one, ok1, ok2
			break
		}
	}
	require.Equal(t, 1, bads, "Subscribe yields the bad record as an error and goes on")
}
