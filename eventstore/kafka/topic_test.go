package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/eventstore/observe"
)

func newErr(t *testing.T, c *kafkatest.Cluster, topic string, opts ...Option) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := New(ctx, c.Client(t), topic, opts...)
	if err == nil {
		_ = s.Close()
	}
	return err
}

func TestTopicChecks(t *testing.T) {
	c := kafkatest.New(t)
	str := func(s string) *string { return &s }

	t.Run("Compacted", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 1, map[string]*string{"cleanup.policy": str("compact"), "retention.ms": str("-1")})
		err := newErr(t, c, topic)
		require.Error(t, err)
		require.Contains(t, err.Error(), "cleanup.policy=compact")
		require.Contains(t, err.Error(), "cleanup.policy=delete")
		require.Contains(t, err.Error(), topic)
		require.NoError(t, newErr(t, c, topic, WithAllowUnsafeTopic()), "WithAllowUnsafeTopic overrides the check")
	})
	t.Run("CompactDelete", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 1, map[string]*string{"cleanup.policy": str("compact,delete"), "retention.ms": str("-1")})
		err := newErr(t, c, topic)
		require.ErrorContains(t, err, "cleanup.policy=compact,delete")
	})
	t.Run("Retention", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 1, map[string]*string{"cleanup.policy": str("delete"), "retention.ms": str("86400000")})
		err := newErr(t, c, topic)
		require.Error(t, err)
		require.Contains(t, err.Error(), "retention.ms=86400000")
		require.Contains(t, err.Error(), "retention.ms=-1")
		require.NoError(t, newErr(t, c, topic, WithAllowUnsafeTopic()))
	})
	t.Run("RetentionBytes", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 1, map[string]*string{"cleanup.policy": str("delete"), "retention.ms": str("-1"), "retention.bytes": str("1048576")})
		err := newErr(t, c, topic)
		require.ErrorContains(t, err, "retention.bytes=1048576")
	})
	t.Run("Missing", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		err := newErr(t, c, topic)
		require.Error(t, err)
		require.Contains(t, err.Error(), "does not exist")
		require.Contains(t, err.Error(), "WithCreateTopic")
	})
	t.Run("Create", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		ctx := testCtx(t)
		s, err := New(ctx, c.Client(t), topic, WithCreateTopic(4, 1))
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = s.Close()
			deleteTopic(t, c, topic)
		})
		require.Equal(t, int32(4), s.Partitions())
		_, err = s.Append(ctx, "a", eventstore.NoStream, ev("T", 1))
		require.NoError(t, err)
		// The created topic passes the checks of a second store.
		s2 := openStore(t, c, topic)
		evs, err := collectStream(t, s2, "a")
		require.NoError(t, err)
		require.Len(t, evs, 1)
	})
	t.Run("BadOptions", func(t *testing.T) {
		require.ErrorIs(t, newErr(t, c, ""), eventstore.ErrInvalidArgument)
		require.ErrorIs(t, newErr(t, c, "events", WithObserver(observe.Base{})), observe.ErrObserver)
		_, err := New(context.Background(), nil, "events")
		require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	})
}

// TestTopicNotAutoCreated runs the store against a broker that creates
// topics on Metadata requests (Apache Kafka's stock
// auto.create.topics.enable=true; kfake with AllowAutoTopicCreation) with a
// user client whose sarama config allows auto-creation (sarama's default):
// opening a store on a missing topic must neither create it nor accept it,
// and WithCreateTopic must create it with the store's own settings.
func TestTopicNotAutoCreated(t *testing.T) {
	c := kafkatest.NewAutoCreate(t)
	client := c.Client(t)
	require.True(t, client.Config().Metadata.AllowAutoTopicCreation, "the user's config allows auto-creation (sarama's default)")

	t.Run("Missing", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := New(ctx, client, topic)
		if err == nil {
			_ = s.Close()
		}
		require.Error(t, err)
		require.Contains(t, err.Error(), "does not exist")
		require.Contains(t, err.Error(), "WithCreateTopic")
		require.False(t, c.TopicExists(t, topic), "opening the store created the topic")
	})
	t.Run("Create", func(t *testing.T) {
		topic := kafkatest.TopicName(t, "events")
		ctx := testCtx(t)
		s, err := New(ctx, client, topic, WithCreateTopic(3, 1))
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = s.Close()
			deleteTopic(t, c, topic)
		})
		require.Equal(t, int32(3), s.Partitions(), "the topic was created by WithCreateTopic, not by a Metadata request")
		_, err = s.Append(ctx, "a", eventstore.NoStream, ev("T", 1))
		require.NoError(t, err)
	})
}
