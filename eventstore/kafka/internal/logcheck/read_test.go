package logcheck_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestReadCommitted writes committed and aborted transactions of valid
// event records with raw sarama and checks that ReadCommitted returns
// exactly the committed ones, in offset order, and that Check then accepts
// the log with the aborted append counted as failed and rejects it when the
// aborted append is claimed as acknowledged.
func TestReadCommitted(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const n = 3
	c.CreateTopic(t, topic, n, kafkatest.EventsTopicConfig())
	cfg := c.TransactionalConfig(kafkatest.TopicName(t, "txid"))
	cfg.Producer.Partitioner = wire.NewPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	var j logcheck.Journal
	write := func(stream string, from int64, ids []string, commit bool) {
		t.Helper()
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		a := logcheck.Append{Writer: "raw", Stream: stream, IDs: ids, Outcome: logcheck.Acked, Version: from + int64(len(ids)) - 1}
		for i, id := range ids {
			key, hs := wire.Encode(stream, from+int64(i), eventstore.Event{ID: id, Type: "T", Data: []byte("x")}, time.Now())
			part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Headers: hs, Value: sarama.StringEncoder("x")})
			if err != nil {
				t.Fatal(err)
			}
			a.Positions = append(a.Positions, eventstore.Position{Partition: part, Offset: off})
		}
		if commit {
			if err := p.CommitTxn(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := p.AbortTxn(); err != nil {
				t.Fatal(err)
			}
			a.Outcome, a.Positions = logcheck.Failed, nil
		}
		j.Add(a)
	}
	write("s1", 1, []string{"s1-1", "s1-2"}, true)
	write("s2", 1, []string{"s2-1"}, true)
	write("s1", 3, []string{"s1-3x", "s1-4x"}, false)
	write("s1", 3, []string{"s1-3"}, true)
	write("s3", 1, []string{"s3-1x"}, false)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ev := range log {
		ids = append(ids, ev.ID)
	}
	if len(log) != 4 {
		t.Fatalf("read %q, want the 4 committed events", ids)
	}
	r := logcheck.Check(log, n, j.Appends())
	if !r.OK() {
		t.Fatalf("problems: %q", r.Problems)
	}
	// Claiming the aborted append as acknowledged must be caught.
	appends := j.Appends()
	appends[2].Outcome = logcheck.Acked
	appends[2].Version = 4
	if r := logcheck.Check(log, n, appends); r.OK() {
		t.Fatal("an acknowledged append that is not in the log was not detected")
	}
	// A second read sees the same log (the first end markers are skipped).
	again, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	if err != nil || len(again) != 4 {
		t.Fatalf("second read: %d events, %v", len(again), err)
	}
}

// TestReadCommittedRidesOutDroppedConnections breaks the reader's first
// fetches (the broker drops the connection, as kfake and real brokers do
// under faults): sarama reports that on the consumer's error channel and
// recovers, so ReadCommitted must keep reading to the end marker rather
// than fail (CI failed once on "kafka: broker not connected").
func TestReadCommittedRidesOutDroppedConnections(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("needs the embedded broker to drop connections")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	pcfg := c.Config()
	pcfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(c.Brokers, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v <= 3; v++ {
		key, hs := wire.Encode("s", v, eventstore.Event{ID: eventstore.NewEventID(), Type: "T", Data: []byte("x")}, time.Now())
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Headers: hs, Value: sarama.StringEncoder("x")}); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Close()
	var broken atomic.Int32
	c.Fake().ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if broken.Add(1) > 3 {
			return nil, nil, false
		}
		return nil, errors.New("test: drop the connection"), true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if broken.Load() < 3 {
		t.Fatalf("only %d fetches were broken", broken.Load())
	}
	if len(log) != 3 {
		t.Fatalf("read %d events, want 3", len(log))
	}
}
