package kafkafetch

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// ErrTopicMissing is returned by [CheckTopic] when no broker knows the
// topic.
var ErrTopicMissing = errors.New("topic does not exist")

// TopicExists reports whether topic exists, asking the client's brokers
// with a Metadata request of its own that does not allow topic
// auto-creation: unlike client.Partitions, client.Leader or
// client.RefreshMetadata, which ask with the client's
// Metadata.AllowAutoTopicCreation (true by default in sarama), asking
// never creates the topic on a broker with auto.create.topics.enable=true
// (Apache Kafka's default) with the broker's default settings.
//
// The topic exists when any broker lists it; a broker that has not heard
// of a topic created a moment ago says it is unknown, so every reachable
// broker is asked before the answer is no. Call it before the first
// metadata request of a client whose configuration you do not control.
// An authorization error (TOPIC_AUTHORIZATION_FAILED) is returned as the
// sarama.KError; an unreachable cluster as the last connection error.
func TopicExists(client sarama.Client, topic string) (bool, error) {
	cfg := client.Config()
	version := cfg.Version
	if !version.IsAtLeast(sarama.V1_0_0_0) {
		// Metadata v4 (Kafka 0.11) is the first with AllowAutoTopicCreation:
		// older versions always allow it.
		version = sarama.V1_0_0_0
	}
	brokers := client.Brokers()
	if len(brokers) == 0 {
		return false, fmt.Errorf("look up topic %s: the client knows no brokers", topic)
	}
	var lastErr error
	answered := false
	for _, b := range brokers {
		if ok, _ := b.Connected(); !ok {
			if err := b.Open(cfg); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
				lastErr = err
				continue
			}
		}
		req := sarama.NewMetadataRequest(version, []string{topic})
		req.AllowAutoTopicCreation = false
		resp, err := b.GetMetadata(req)
		if err != nil {
			lastErr = err
			continue
		}
		answered = true
		for _, t := range resp.Topics {
			if t.Name != topic {
				continue
			}
			switch {
			case errors.Is(t.Err, sarama.ErrNoError), errors.Is(t.Err, sarama.ErrLeaderNotAvailable):
				return true, nil
			case errors.Is(t.Err, sarama.ErrTopicAuthorizationFailed):
				return false, t.Err
			case errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition):
			default:
				lastErr = t.Err
			}
		}
	}
	if !answered {
		return false, fmt.Errorf("look up topic %s: no broker answered: %w", topic, lastErr)
	}
	return false, nil
}

// CheckTopic is [TopicExists] that returns an error matching both
// [ErrTopicMissing] and sarama.ErrUnknownTopicOrPartition when the topic
// does not exist.
func CheckTopic(client sarama.Client, topic string) error {
	ok, err := TopicExists(client, topic)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("topic %s: %w (%w)", topic, ErrTopicMissing, sarama.ErrUnknownTopicOrPartition)
	}
	return nil
}
