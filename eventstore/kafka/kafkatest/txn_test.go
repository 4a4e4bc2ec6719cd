package kafkatest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestTransactionsWork checks that the cluster (kfake, or the real broker
// when KAFKAES_BROKERS is set) gives sarama working transactions: records of
// an aborted transaction are invisible to read_committed readers, records of
// a committed one are visible, and a read_uncommitted reader sees both (so
// the aborted records really were written and the first check can fail).
func TestTransactionsWork(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "txn")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())

	cfg := c.TransactionalConfig(kafkatest.TopicName(t, "txid"))
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	defer p.Close()

	send := func(value string) {
		t.Helper()
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(value)}); err != nil {
			t.Fatalf("send %q: %v", value, err)
		}
	}
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("begin 1: %v", err)
	}
	send("aborted-1")
	send("aborted-2")
	if err := p.AbortTxn(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("begin 2: %v", err)
	}
	send("committed-1")
	send("committed-2")
	if err := p.CommitTxn(); err != nil {
		t.Fatalf("commit: %v", err)
	}

	committed := readUntil(t, c, topic, sarama.ReadCommitted, "committed-2")
	if want := []string{"committed-1", "committed-2"}; fmt.Sprint(committed) != fmt.Sprint(want) {
		t.Fatalf("read_committed saw %q, want %q", committed, want)
	}
	all := readUntil(t, c, topic, sarama.ReadUncommitted, "committed-2")
	if want := []string{"aborted-1", "aborted-2", "committed-1", "committed-2"}; fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("read_uncommitted saw %q, want %q", all, want)
	}
}

// readUntil reads partition 0 of topic from the start with the given
// isolation level until it meets a record with value last, and returns the
// values it read.
func readUntil(t *testing.T, c *kafkatest.Cluster, topic string, iso sarama.IsolationLevel, last string) []string {
	t.Helper()
	cfg := c.Config()
	cfg.Consumer.IsolationLevel = iso
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cons, err := sarama.NewConsumer(c.Brokers, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cons.Close()
	deadline := time.Now().Add(30 * time.Second)
	// A broker that has just started may not lead the partition yet
	// (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE): try again until the
	// deadline.
	var pc sarama.PartitionConsumer
	for {
		pc, err = cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consume %s/0: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer pc.Close()
	var got []string
	var lastErr error
	timeout := time.After(time.Until(deadline))
	for {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
			if string(m.Value) == last {
				return got
			}
		case err := <-pc.Errors():
			// The partition consumer reports a leader moving or a
			// connection breaking and carries on; the deadline decides.
			lastErr = err
		case <-timeout:
			t.Fatalf("isolation %v: %q not read within 30s; read so far %q; last consumer error: %v", iso, last, got, lastErr)
		}
	}
}
