package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
)

// TestSecureMinimalACLs: the snapshot store works with Read, Write and
// DescribeConfigs on its topic, and without any one of them fails at once
// with an error naming the operation, the topic and the ACL to add.
func TestSecureMinimalACLs(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	topic := kafkatest.TopicName(t, "snapshot-secure")
	c.CreateTopic(t, topic, 2, compacted())
	all := map[string]string{
		"Read":            "topic:" + topic + ":Read",
		"Write":           "topic:" + topic + ":Write",
		"DescribeConfigs": "topic:" + topic + ":DescribeConfigs",
	}
	run := func(t *testing.T, u *kafkatest.User) error {
		cfg := u.Config()
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cl, err := sarama.NewClient(c.Brokers, cfg)
		require.NoError(t, err)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := snapkafka.New(ctx, cl, topic, snapkafka.WithLogger(quiet()))
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Save(ctx, snap("a", 1, "x")); err != nil {
			return err
		}
		_, err = s.Load(ctx, "a")
		return err
	}
	var everything []string
	for _, spec := range all {
		everything = append(everything, spec)
	}
	require.NoError(t, run(t, c.NewUser(t, kafkatest.MustACLs(everything...)...)), "with every documented ACL")
	for missing := range all {
		t.Run("without "+missing, func(t *testing.T) {
			var specs []string
			for op, spec := range all {
				if op != missing {
					specs = append(specs, spec)
				}
			}
			u := c.NewUser(t, kafkatest.MustACLs(specs...)...)
			start := time.Now()
			err := run(t, u)
			t.Logf("without %s after %v: %v", missing, time.Since(start).Round(time.Millisecond), err)
			require.Error(t, err)
			require.True(t, errors.Is(err, kafka.ErrNotAuthorized), "%v", err)
			var ae *kafka.AuthorizationError
			require.True(t, errors.As(err, &ae))
			require.Equal(t, []string{"topic", topic, missing}, []string{ae.Resource, ae.Name, ae.Operation})
			require.True(t, strings.Contains(err.Error(), "kafka-acls.sh"), "%v", err)
			require.Less(t, time.Since(start), 20*time.Second, "must not retry")
		})
	}
}
