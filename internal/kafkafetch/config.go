package kafkafetch

import "github.com/IBM/sarama"

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
