package kafkatest_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestRealBrokerCtl checks the broker control itself: while the broker is
// stopped (cleanly, then by SIGKILL) a client cannot connect, after Start it
// serves again, and a committed transactional record written before
// survives both.
func TestRealBrokerCtl(t *testing.T) {
	ctl := kafkatest.RequireBrokerCtl(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "ctl")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	p, err := sarama.NewSyncProducer(c.Brokers, c.TransactionalConfig(kafkatest.TopicName(t, "txid")))
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("kept")}); err != nil {
		t.Fatal(err)
	}
	if err := p.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()

	for _, down := range []struct {
		name string
		do   func(context.Context) error
	}{{"stop", ctl.Stop}, {"kill", ctl.Kill}} {
		if err := down.do(ctx); err != nil {
			t.Fatalf("%s: %v", down.name, err)
		}
		cfg := c.Config()
		cfg.Net.DialTimeout = time.Second
		cfg.Metadata.Retry.Max = 0
		if cl, err := sarama.NewClient(c.Brokers, cfg); err == nil {
			_ = cl.Close()
			t.Fatalf("after %s: a client could still connect to %v", down.name, c.Brokers)
		}
		if err := ctl.Start(ctx); err != nil {
			t.Fatalf("start after %s: %v", down.name, err)
		}
		if got := readUntil(t, c, topic, sarama.ReadCommitted, "kept"); len(got) != 1 {
			t.Fatalf("after %s and start: read %q, want just \"kept\"", down.name, got)
		}
	}
}
