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

// TestHungTransaction: another writer's transaction stays open on stream
// "held". Appends to other streams of the partition go on without waiting
// for it, an append to "held" fails with a conflict instead of hanging, and
// once the transaction is aborted the stream is free again.
func TestHungTransaction(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic, WithAppendTimeout(20*time.Second))
	ctx := testCtx(t)

	p := otherTxnProducer(t, c, "hung-"+topic, sarama.CompressionNone)
	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.SendMessages([]*sarama.ProducerMessage{encodedMsg(topic, "held", 1, "T")}))

	start := time.Now()
	res, err := s.Append(ctx, "free", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Version)
	evs, err := collectStream(t, s, "free")
	require.NoError(t, err)
	require.Len(t, evs, 1)

	_, err = s.Append(ctx, "held", eventstore.NoStream, ev("T", 1))
	require.True(t, errors.Is(err, eventstore.ErrConcurrencyConflict), "an append racing an open transaction on its stream conflicts: %v", err)
	t.Logf("appends next to a hung transaction took %v", time.Since(start))
	require.Less(t, time.Since(start), 15*time.Second, "no waiting for the hung transaction's timeout")

	require.NoError(t, p.AbortTxn())
	res, err = s.Append(ctx, "held", eventstore.NoStream, ev("T", 2))
	require.NoError(t, err, "after the abort the aborted record is no conflict")
	require.Equal(t, int64(1), res.Version)
	evs, err = collectStream(t, s, "held")
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, `{"n":2}`, string(evs[0].Data))
}
