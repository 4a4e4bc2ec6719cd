package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestReadAllNeverShort: another writer's transaction stays open (a writer
// that died with it open) and a second store instance's append is
// acknowledged behind it. ReadAll must not end quietly without that append
// as if it had reached the end of the log: it yields the events before the
// open transaction, then an error matching eventstore.ErrUnavailable that
// names the partition. Once the transaction is aborted, ReadAll yields
// everything without error. Before the fix ReadAll returned the short
// read without any error after its 2s wait.
func TestReadAllNeverShort(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	other := openStore(t, c, topic)
	ctx := testCtx(t)

	_, err := s.Append(ctx, "before", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)

	p := otherTxnProducer(t, c, "held-"+topic, sarama.CompressionNone)
	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.SendMessages([]*sarama.ProducerMessage{encodedMsg(topic, "held", 1, "T")}))

	_, err = other.Append(ctx, "after", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err, "an append behind another writer's open transaction")

	var streams []string
	var readErr error
	start := time.Now()
	for e, err := range s.ReadAll(ctx, nil) {
		if err != nil {
			readErr = err
			break
		}
		streams = append(streams, e.StreamID)
	}
	require.ErrorIs(t, readErr, eventstore.ErrUnavailable, "a ReadAll that misses an acknowledged append must say so (read %v)", streams)
	require.ErrorContains(t, readErr, "partition 0")
	require.Equal(t, []string{"before"}, streams, "the events before the open transaction come first")
	require.Less(t, time.Since(start), 20*time.Second)
	t.Logf("ReadAll held back: %v (after %v)", readErr, time.Since(start))

	require.NoError(t, p.AbortTxn())
	// The abort markers land a little after AbortTxn returns.
	deadline := time.Now().Add(30 * time.Second)
	for {
		streams, readErr = nil, nil
		for e, err := range s.ReadAll(ctx, nil) {
			if err != nil {
				readErr = err
				break
			}
			streams = append(streams, e.StreamID)
		}
		if readErr == nil || !errors.Is(readErr, eventstore.ErrUnavailable) || time.Now().After(deadline) {
			break
		}
	}
	require.NoError(t, readErr)
	require.Equal(t, []string{"before", "after"}, streams)
}
