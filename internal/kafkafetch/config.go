package kafkafetch

import (
	"context"
	"errors"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

// TopicConfig returns the configuration entries of topic (only names, if
// given), as the deprecated ClusterAdmin.DescribeConfig did: through
// DescribeConfigs, with a per-topic error returned as a
// *sarama.DescribeConfigError (its Err is the broker's error code).
func TopicConfig(admin sarama.ClusterAdmin, topic string, names ...string) ([]sarama.ConfigEntry, error) {
	res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: names}}, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, err
	}
	var out []sarama.ConfigEntry
	for _, r := range res {
		if r.Name != topic {
			continue
		}
		if r.ErrorCode != sarama.ErrNoError {
			return nil, &sarama.DescribeConfigError{Err: r.ErrorCode, ErrMsg: r.ErrorMsg}
		}
		out = append(out, r.Configs...)
	}
	return out, nil
}

// TopicConfigSettled is TopicConfig asked again, every 100 ms for up to
// wait, while the answer is that the topic does not exist: on a cluster of
// several brokers, one that has not heard yet of a topic created a moment
// ago (by the caller, or by an operator) says so. It stops early when ctx
// ends and returns the last answer.
func TopicConfigSettled(ctx context.Context, admin sarama.ClusterAdmin, topic string, wait time.Duration, names ...string) ([]sarama.ConfigEntry, error) {
	deadline := time.Now().Add(wait)
	for {
		entries, err := TopicConfig(admin, topic, names...)
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) || time.Now().After(deadline) {
			return entries, err
		}
		if ctxtime.Sleep(ctx, 100*time.Millisecond) != nil {
			return entries, err
		}
	}
}

// CleanupPolicy returns the cleanup.policy among entries, or Kafka's
// default "delete" when they do not name it.
func CleanupPolicy(entries []sarama.ConfigEntry) string {
	for _, e := range entries {
		if e.Name == "cleanup.policy" {
			return e.Value
		}
	}
	return "delete"
}
