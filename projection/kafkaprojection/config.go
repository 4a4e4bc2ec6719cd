package kafkaprojection

import (
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
	return c
}

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
