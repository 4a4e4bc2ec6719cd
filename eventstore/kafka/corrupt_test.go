package kafka

import (
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestCorruptStream is issue 12's "corrupt streams get worse": a foreign
// record (es.version 9 after 6) lands in a stream. Loads refused the stream,
// but appends with Exact(6) and Any still wrote versions 7 and 8 after it,
// and ReadAll and Subscribe passed the bogus 9 on as a valid event.
func TestCorruptStream(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	s := openStore(t, c, topic)
	for i := 1; i <= 6; i++ {
		_, err := s.Append(ctx, "acc", eventstore.Exact(int64(i-1)), ev("T", i))
		require.NoError(t, err)
	}
	bad := rawProduce(t, c, encodedMsg(topic, "acc", 9, "T"))[0]

	_, err := collectStream(t, s, "acc")
	requireCorruptAt(t, err, topic, bad)

	hw := func() int64 {
		cl := c.Client(t)
		off, err := cl.GetOffset(topic, 0, sarama.OffsetNewest)
		require.NoError(t, err)
		return off
	}
	before := hw()
	s2 := openStore(t, c, topic) // a store that indexed the corrupt log from scratch
	for _, st := range []*Store{s, s2} {
		for _, exp := range []eventstore.ExpectedVersion{eventstore.Exact(6), eventstore.Any, eventstore.Exact(9), eventstore.StreamExists} {
			_, err := st.Append(ctx, "acc", exp, ev("T", 7))
			requireCorruptAt(t, err, topic, bad)
			require.ErrorContains(t, err, "nothing was written")
		}
	}
	require.Equal(t, before, hw(), "an append to the corrupt stream wrote to the log")

	// Other streams carry on.
	_, err = s.Append(ctx, "other", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)

	// ReadAll flags the out-of-place event, with the event and its place.
	var versions []int64
	var flagged []eventstore.RecordedEvent
	for e, err := range s2.ReadAll(ctx, nil) {
		if err != nil {
			requireCorruptAt(t, err, topic, bad)
			flagged = append(flagged, e)
			continue
		}
		if e.StreamID == "acc" {
			versions = append(versions, e.Version)
		}
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5, 6}, versions)
	require.Len(t, flagged, 1)
	require.Equal(t, int64(9), flagged[0].Version)
	require.Equal(t, eventstore.Position{Partition: 0, Offset: bad}, flagged[0].Position)

	// So does a subscription, which then goes on with the next record.
	sub, cancel := contextWithCancel(ctx)
	defer cancel()
	var got []string
	for e, err := range s2.Subscribe(sub, nil) {
		switch {
		case err == nil:
			got = append(got, e.StreamID)
		case errors.Is(err, eventstore.ErrCorruptLog):
			requireCorruptAt(t, err, topic, bad)
			got = append(got, "corrupt")
		default:
			t.Fatalf("subscribe: %v", err)
		}
		if len(got) == 8 {
			cancel()
			break
		}
	}
	require.Equal(t, []string{"acc", "acc", "acc", "acc", "acc", "acc", "corrupt", "other"}, got)
}

// TestCorruptStreamUnseen appends right after a foreign record landed,
// before the store's index has read it: the append must not succeed after
// it, and once the store knows, appends are refused as corrupt.
func TestCorruptStreamUnseen(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	s := openStore(t, c, topic)
	_, err := s.Append(ctx, "acc", eventstore.NoStream, ev("T", 1), ev("T", 2))
	require.NoError(t, err)
	bad := rawProduce(t, c, encodedMsg(topic, "acc", 5, "T"))[0]
	_, err = s.Append(ctx, "acc", eventstore.Exact(2), ev("T", 3))
	require.Error(t, err)
	require.True(t, errors.Is(err, eventstore.ErrCorruptLog) || errors.Is(err, eventstore.ErrConcurrencyConflict), "%v", err)
	_, err = s.Append(ctx, "acc", eventstore.Any, ev("T", 3))
	requireCorruptAt(t, err, topic, bad)
}
