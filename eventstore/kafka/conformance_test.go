package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/eventstoretest"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestConformance runs the eventstore conformance suite on the Kafka store:
// every store on a fresh topic, peers as independent stores (own client,
// own producers) on the same topic.
func TestConformance(t *testing.T) {
	c := kafkatest.New(t)
	open := func(t *testing.T, topic string) *kafka.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := kafka.New(ctx, c.Client(t), kafka.WithTopic(topic))
		require.NoError(t, err)
		return s
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		topic := kafkatest.TopicName(t, "events")
		c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
		return open(t, topic)
	}, eventstoretest.Features{
		Idempotency: true,
		Peer: func(t *testing.T, s eventstore.Store) eventstore.Store {
			return open(t, s.(*kafka.Store).Topic())
		},
	})
}
