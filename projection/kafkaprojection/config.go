package kafkaprojection

import (
	"fmt"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"
)

// clientConfig returns a copy of cfg for a new client, or, when cfg is
// nil, sarama.NewConfig() with Kafka version 2.1. The copy has a metric
// registry of its own: clients sharing one mix their metrics.
func clientConfig(cfg *sarama.Config) sarama.Config {
	var c sarama.Config
	if cfg == nil {
		c = *sarama.NewConfig()
		c.Version = sarama.V2_1_0_0
	} else {
		c = *cfg
	}
	c.MetricRegistry = metrics.NewRegistry()
	// Never create a topic by asking for its metadata (sarama allows it by
	// default, and a broker with Apache Kafka's stock
	// auto.create.topics.enable=true would create a missing events,
	// dead-letter or output topic with its default settings: 7-day
	// retention). A missing topic is an error that says how to create it;
	// see missingTopic.
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

// missingTopic is the error for a topic that does not exist; it matches
// sarama.ErrUnknownTopicOrPartition. role says what the topic is for, how
// says how to create it.
func missingTopic(role, topic, how string) error {
	return fmt.Errorf("kafkaprojection: %s topic %q does not exist; %s (kafkaes never lets a broker auto-create a topic): %w",
		role, topic, how, sarama.ErrUnknownTopicOrPartition)
}

// howEvents says how to create a missing events topic.
const howEvents = "create it with cleanup.policy=delete and retention.ms=-1 (kafka-topics.sh --create --topic NAME --partitions N " +
	"--config cleanup.policy=delete --config retention.ms=-1), or open the event store with kafka.WithCreateTopic, which creates it so"

// howPlain says how to create a missing dead-letter or output topic.
const howPlain = "create it first (kafka-topics.sh --create --topic NAME --partitions N, with a retention long enough for its readers)"

// producerConfig returns [clientConfig](cfg) for an idempotent producer
// that waits for all in-sync replicas and returns its successes
// (idempotence needs Net.MaxOpenRequests = 1).
func producerConfig(cfg *sarama.Config) sarama.Config {
	c := clientConfig(cfg)
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Net.MaxOpenRequests = 1
	return c
}
