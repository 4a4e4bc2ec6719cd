package kafka

import (
	"context"
	"os"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// deleteTopic deletes a topic the store created, unless KAFKAES_KEEP_TOPICS=1.
func deleteTopic(t *testing.T, c *kafkatest.Cluster, topic string) {
	if os.Getenv("KAFKAES_KEEP_TOPICS") == "1" {
		return
	}
	a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
	if err != nil {
		t.Logf("delete topic %s: %v", topic, err)
		return
	}
	defer a.Close()
	_ = a.DeleteTopic(topic)
}

func contextWithCancel(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(parent)
}
