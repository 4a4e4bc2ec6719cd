package kafkakeys

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
)

// topicConfig is what New creates a missing key topic with.
func topicConfig() map[string]*string {
	s := func(v string) *string { return &v }
	return map[string]*string{
		"cleanup.policy": s("compact"),
		// An erased key must leave the disk: roll and clean a segment
		// holding a superseded key within a day (KIP-354).
		"max.compaction.lag.ms": s(strconv.Itoa(int((24 * time.Hour).Milliseconds()))),
		"min.compaction.lag.ms": s("0"),
		// Tombstones stay a day after cleaning, so that instances that were
		// offline for less than that learn of the erasure.
		"delete.retention.ms": s(strconv.Itoa(int((24 * time.Hour).Milliseconds()))),
		"min.insync.replicas": s("1"),
	}
}

// checkTopic makes sure the key topic exists (creating it unless told not
// to) and keeps keys forever: cleanup.policy must be exactly compact.
func checkTopic(client sarama.Client, topic string, o options) error {
	admin, err := sarama.NewClusterAdminFromClient(client) // not closed: that would close the caller's client
	if err != nil {
		return fmt.Errorf("kafkakeys: admin client: %w", err)
	}
	exists, err := kafkafetch.TopicExists(client, topic)
	if kafkaauth.Fatal(err) {
		return denied(client, "look up key topic "+topic, "Describe", topic, err)
	}
	if err != nil {
		return fmt.Errorf("kafkakeys: look up topic %s: %w", topic, err)
	}
	if !exists {
		if !o.create {
			return fmt.Errorf("kafkakeys: key topic %s does not exist; create it with cleanup.policy=compact "+
				"(kafka-topics.sh --create --topic %s --partitions 1 --replication-factor 3 --config cleanup.policy=compact), "+
				"or leave out kafkakeys.WithoutTopicCreation", topic, topic)
		}
		rf := o.replication
		if rf <= 0 {
			rf = int16(min(3, max(len(client.Brokers()), 1)))
		}
		cfg := topicConfig()
		if rf == 1 {
			one := "1"
			cfg["min.insync.replicas"] = &one
		} else {
			two := "2"
			cfg["min.insync.replicas"] = &two
		}
		err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: o.partitions, ReplicationFactor: rf, ConfigEntries: cfg}, false)
		if kafkaauth.Fatal(err) {
			return denied(client, "create key topic "+topic, "Create", topic, err)
		}
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("kafkakeys: create key topic %s: %w", topic, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := client.RefreshMetadata(topic)
		if parts, perr := client.Partitions(topic); err == nil && perr == nil && len(parts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafkakeys: key topic %s has no partitions in the metadata after 10s: %v", topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, err := kafkafetch.TopicConfigSettled(context.Background(), admin, topic, time.Until(deadline), "cleanup.policy")
	if kafkaauth.Fatal(err) {
		return denied(client, "read the configuration of key topic "+topic+" to check that it is compacted", "DescribeConfigs", topic, err)
	}
	if err != nil {
		return fmt.Errorf("kafkakeys: read the configuration of key topic %s: %w", topic, err)
	}
	if policy := kafkafetch.CleanupPolicy(entries); policy != "compact" {
		return fmt.Errorf("kafkakeys: key topic %s has cleanup.policy=%s; it needs cleanup.policy=compact (and not delete): "+
			"expiring a key makes every personal-data field encrypted with it unreadable, as if the subject had been erased "+
			"(kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)", topic, policy, topic)
	}
	return nil
}

func denied(client sarama.Client, what, op, topic string, err error) error {
	return kafkaauth.Wrap(err, client.Config(), "kafkakeys: "+what, op, kafkaauth.Topic, topic, false)
}
