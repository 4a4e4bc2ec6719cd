package kafkaprojection

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
)

// The constructors of this package take the caller's sarama.Client, like
// kafka.New and snapshot/kafka.New do: the client stays the caller's (it
// is never closed here), and each Source, Reader, DLQ and Transformer
// opens its own connections from a copy of the client's configuration
// (TLS, SASL, client ID, version) and its broker addresses, because each
// needs consumer or producer settings of its own (read_committed, a
// transactional ID, idempotence) that must not change the caller's client.

// fromClient returns the broker addresses client knows and a copy of its
// configuration, or an error that says why client cannot be used.
func fromClient(client sarama.Client, what string) ([]string, sarama.Config, error) {
	if client == nil {
		return nil, sarama.Config{}, fmt.Errorf("kafkaprojection: %s needs a sarama.Client (sarama.NewClient(brokers, cfg))", what)
	}
	if client.Closed() {
		return nil, sarama.Config{}, fmt.Errorf("kafkaprojection: %s: the sarama client is closed", what)
	}
	var addrs []string
	for _, b := range client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	if len(addrs) == 0 {
		return nil, sarama.Config{}, fmt.Errorf("kafkaprojection: %s: the sarama client knows no brokers", what)
	}
	return addrs, clientConfig(client.Config()), nil
}

// connect opens a client on addrs configured by cfg, or gives up when ctx
// ends (the client still connecting is closed when it is done).
func connect(ctx context.Context, addrs []string, cfg *sarama.Config, what string) (sarama.Client, error) {
	type result struct {
		c   sarama.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := sarama.NewClient(addrs, cfg)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			if kafkaauth.IsAuthentication(r.err) {
				return nil, kafkaauth.Wrap(r.err, cfg, fmt.Sprintf("kafkaprojection: %s: connect to %v", what, addrs), "", "", "", false)
			}
			return nil, fmt.Errorf("kafkaprojection: %s: connect to %v: %w", what, addrs, r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("kafkaprojection: %s: connect to %v: %w", what, addrs, context.Cause(ctx))
	}
}

// clientConfig returns a copy of cfg for a new client. The copy has a
// metric registry of its own: clients sharing one mix their metrics.
func clientConfig(cfg *sarama.Config) sarama.Config {
	c := *cfg
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

// producerConfig returns a copy of cfg for an idempotent producer that
// waits for all in-sync replicas and returns its successes (idempotence
// needs Net.MaxOpenRequests = 1).
func producerConfig(cfg sarama.Config) sarama.Config {
	c := clientConfig(&cfg)
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Net.MaxOpenRequests = 1
	return c
}
