package kafkaprojection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// TestNoTopicAutoCreation runs the sources, the dead-letter sink and the
// transformer against a broker that creates topics on Metadata requests
// (Apache Kafka's stock auto.create.topics.enable=true) with a config that
// allows it (sarama's default): a missing topic must be reported as
// missing, and stay missing.
func TestNoTopicAutoCreation(t *testing.T) {
	c := kafkatest.NewAutoCreate(t)
	cfg := c.Config()
	require.True(t, cfg.Metadata.AllowAutoTopicCreation)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	missingErr := func(t *testing.T, err error, topic string) {
		t.Helper()
		require.Error(t, err)
		require.ErrorIs(t, err, sarama.ErrUnknownTopicOrPartition)
		require.ErrorContains(t, err, "does not exist")
		require.ErrorContains(t, err, topic)
		require.False(t, c.TopicExists(t, topic), "the topic was auto-created")
	}

	t.Run("Source", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		src, err := kafkaprojection.NewSource(context.Background(), c.ClientWith(t, cfg), topic, kafkatest.TopicName(t, "group"))
		require.NoError(t, err)
		defer src.Close()
		_, err = src.End(ctx)
		missingErr(t, err, topic)
		require.ErrorContains(t, err, "WithCreateTopic")
		r, err := projection.New("p", testSerde(), []projection.Handler{
			projection.On(func(context.Context, Deposited, projection.Meta) error { return nil }),
		})
		require.NoError(t, err)
		missingErr(t, r.Run(ctx, src), topic)
	})
	t.Run("Reader", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		rd, err := kafkaprojection.NewReader(context.Background(), c.ClientWith(t, cfg), topic)
		require.NoError(t, err)
		defer rd.Close()
		r, err := projection.New("p", testSerde(), []projection.Handler{
			projection.On(func(context.Context, Deposited, projection.Meta) error { return nil }),
		})
		require.NoError(t, err)
		missingErr(t, r.Run(ctx, rd), topic)
	})
	t.Run("DLQ", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "dlq")
		_, err := kafkaprojection.NewDLQ(context.Background(), c.ClientWith(t, cfg), topic)
		missingErr(t, err, topic)
	})
	t.Run("TransformerOutput", func(t *testing.T) {
		in := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, in, 1, kafkatest.EventsTopicConfig())
		out := kafkatest.TopicName(t, "derived")
		tr, err := kafkaprojection.NewTransformer(context.Background(), c.ClientWith(t, cfg), in, kafkatest.TopicName(t, "group"))
		require.NoError(t, err)
		defer tr.Close()
		tctx, txn, err := tr.Begin(ctx, "p", 0)
		require.NoError(t, err)
		require.NoError(t, kafkaprojection.EmitEvent(tctx, out, "s-1", 1, eventstore.Event{ID: "e1", Type: "T", Data: []byte("{}")}, time.Now()))
		err = txn.Commit(tctx, 0, 0, 1)
		missingErr(t, err, out)
		require.False(t, errors.Is(err, projection.ErrCheckpointMoved))
	})
}
