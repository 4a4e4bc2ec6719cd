package kafka

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestIdempotencyAcrossRestart: the event IDs of a stream are rebuilt from
// the log, so re-sending an append after a restart (a new store) is a
// no-op that reports the original result, a partial overlap is refused,
// and IDs beyond the window are not remembered (the documented bound).
func TestIdempotencyAcrossRestart(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)

	withID := func(id string) eventstore.Event { return eventstore.Event{ID: id, Type: "T", Data: []byte(id)} }
	s1 := openStore(t, c, topic, WithIdempotencyWindow(4))
	first, err := s1.Append(ctx, "s", eventstore.NoStream, withID("a"), withID("b"))
	require.NoError(t, err)
	for i := range 4 {
		_, err = s1.Append(ctx, "s", eventstore.Exact(int64(2+i)), withID(fmt.Sprint("x", i)))
		require.NoError(t, err)
	}
	last, err := s1.Append(ctx, "s", eventstore.Exact(6), withID("c"), withID("d"))
	require.NoError(t, err)
	require.NoError(t, s1.Close())

	s2 := openStore(t, c, topic, WithIdempotencyWindow(4))
	again, err := s2.Append(ctx, "s", eventstore.Exact(6), withID("c"), withID("d"))
	require.NoError(t, err, "a repeat after a restart succeeds")
	require.Equal(t, last, again, "with the original result")

	_, err = s2.Append(ctx, "s", eventstore.Exact(8), withID("d"), withID("e"))
	require.ErrorIs(t, err, eventstore.ErrDuplicateEventID)

	// "a" and "b" are older than the window of 4 IDs: not recognised, so
	// the append is judged by its expected version alone.
	_, err = s2.Append(ctx, "s", eventstore.NoStream, withID("a"), withID("b"))
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	require.Equal(t, int64(2), first.Version)

	evs, err := collectStream(t, s2, "s")
	require.NoError(t, err)
	require.Len(t, evs, 8, "nothing was written twice")
}
