package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	eskafka "github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/snapshot"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
)

func strp(s string) *string { return &s }

// snapshotRecord is a record as snapshot/kafka writes it: es.version and
// es.type, no es.id.
func snapshotRecord(stream string) testRecord {
	return testRecord{key: []byte(stream), value: []byte(`{"balance":10}`), partition: -1, headers: []sarama.RecordHeader{
		{Key: []byte(wire.HeaderVersion), Value: []byte("3")},
		{Key: []byte(wire.HeaderType), Value: []byte("bank.Account")},
	}}
}

// row returns the table row of topic, split into columns.
func row(out, topic string) []string {
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) > 1 && f[1] == topic {
			return f
		}
	}
	return nil
}

func TestTopics(t *testing.T) {
	c := kafkatest.New(t)
	p := newProducer(t, c, "")
	good := kafkatest.TopicName(t, "events-good")
	c.CreateTopic(t, good, 3, kafkatest.EventsTopicConfig())
	p.send(good, 3, streamEvents("acc-1", 2)...)

	compacted := kafkatest.TopicName(t, "events-compacted")
	c.CreateTopic(t, compacted, 2, map[string]*string{"cleanup.policy": strp("compact"), "retention.ms": strp("-1")})
	p.send(compacted, 2, streamEvents("acc-1", 1)...)

	expiring := kafkatest.TopicName(t, "events-expiring")
	c.CreateTopic(t, expiring, 1, map[string]*string{"cleanup.policy": strp("delete"), "retention.ms": strp("604800000")})
	p.send(expiring, 1, streamEvents("acc-1", 1)...)

	snapGood := kafkatest.TopicName(t, "snapshot-good")
	c.CreateTopic(t, snapGood, 2, map[string]*string{"cleanup.policy": strp("compact")})
	p.send(snapGood, 2, snapshotRecord("acc-1"))

	snapBad := kafkatest.TopicName(t, "snapshot-bad")
	c.CreateTopic(t, snapBad, 2, map[string]*string{"cleanup.policy": strp("delete")})
	p.send(snapBad, 2, snapshotRecord("acc-1"))

	other := kafkatest.TopicName(t, "plain")
	c.CreateTopic(t, other, 1, nil)
	p.send(other, 1, testRecord{key: []byte("k"), value: []byte("v"), partition: 0})

	// Not ours whatever the name: a Schema Registry's own "_…-snapshots"
	// topic (records without es.* headers, not compacted), and an empty
	// topic named like a snapshot topic.
	registrySnaps := "_" + kafkatest.TopicName(t, "registry") + "-snapshots"
	c.CreateTopic(t, registrySnaps, 1, map[string]*string{"cleanup.policy": strp("delete")})
	p.send(registrySnaps, 1, testRecord{key: []byte(`{"keytype":"SCHEMA"}`), value: []byte(`{"schema":"..."}`), partition: 0})
	emptySnaps := kafkatest.TopicName(t, "empty-snapshots")
	c.CreateTopic(t, emptySnaps, 1, map[string]*string{"cleanup.policy": strp("delete")})
	// Dead letters are recognised by their headers, not by "dlq" in the name.
	dead := kafkatest.TopicName(t, "parked")
	c.CreateTopic(t, dead, 1, nil)
	dl := event("acc-1", 1, "dl-1", `{}`)
	dl.partition = 0
	dl.headers = append(dl.headers, sarama.RecordHeader{Key: []byte(kafkaprojection.HeaderDLQProjection), Value: []byte("balances")},
		sarama.RecordHeader{Key: []byte(kafkaprojection.HeaderDLQError), Value: []byte("boom")})
	p.send(dead, 1, dl)

	all := strings.Join([]string{good, compacted, expiring, snapGood, snapBad, other}, ",")
	r := kafkaes(t, "topics", brokers(c), "--topic", all)
	if r.code != exitViolation {
		t.Fatalf("topics with broken configurations: want exit %d\n%s", exitViolation, r)
	}
	for _, tc := range []struct {
		topic, kind, parts, status string
	}{
		{good, "events", "3", "ok"},
		{compacted, "events", "2", "VIOLATION"},
		{expiring, "events", "1", "VIOLATION"},
		{snapGood, "snapshots", "2", "ok"},
		{snapBad, "snapshots", "2", "VIOLATION"},
		{other, "other", "1", "-"},
	} {
		f := row(r.stdout, tc.topic)
		if f == nil {
			t.Errorf("no row for %s:\n%s", tc.topic, r)
			continue
		}
		if f[0] != tc.kind || f[2] != tc.parts || f[6] != tc.status {
			t.Errorf("row of %s: %v, want kind %s, %s partitions, status %s", tc.topic, f, tc.kind, tc.parts, tc.status)
		}
	}
	for _, want := range []string{
		"VIOLATION events topic " + compacted + ": cleanup.policy=compact, want delete",
		"VIOLATION events topic " + expiring + ": retention.ms=604800000 (7 days), want -1",
		"VIOLATION snapshots topic " + snapBad + ": cleanup.policy=delete, want compact",
		"--add-config retention.ms=-1",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output does not contain %q:\n%s", want, r)
		}
	}
	for _, ok := range []string{good, snapGood} {
		if strings.Contains(r.stdout, "VIOLATION events topic "+ok+":") || strings.Contains(r.stdout, "VIOLATION snapshots topic "+ok+":") {
			t.Errorf("%s flagged:\n%s", ok, r)
		}
	}

	r = kafkaes(t, "topics", brokers(c), "--topic", good+","+snapGood)
	if r.code != exitOK {
		t.Errorf("topics with good configurations:\n%s", r)
	}
	r = kafkaes(t, "topics", brokers(c), "--all")
	if f := row(r.stdout, registrySnaps); f == nil || f[0] != "other" || f[6] != "-" {
		t.Errorf("a registry's -snapshots topic is not ours: %v\n%s", f, r)
	}
	if f := row(r.stdout, dead); f == nil || f[0] != "dead-letter" {
		t.Errorf("a dead-letter topic: %v\n%s", f, r)
	}
	if f := row(r.stdout, emptySnaps); f == nil || f[0] != "empty" || f[6] != "-" {
		t.Errorf("an empty topic is not checked by its name: %v\n%s", f, r)
	}
	if strings.Contains(r.stdout, "VIOLATION snapshots topic "+registrySnaps) || strings.Contains(r.stdout, "VIOLATION snapshots topic "+emptySnaps) {
		t.Errorf("topics flagged by name:\n%s", r)
	}

	// Without --topic every topic of the cluster is looked at; ours are
	// among them.
	r = kafkaes(t, "topics", brokers(c))
	if f := row(r.stdout, compacted); r.code != exitViolation || f == nil || f[0] != "events" {
		t.Errorf("topics of the whole cluster:\n%s", r)
	}
	if row(r.stdout, other) != nil {
		t.Errorf("a topic without kafkaes records is listed without --all:\n%s", r)
	}
	r = kafkaes(t, "topics", brokers(c), "--all")
	if row(r.stdout, other) == nil {
		t.Errorf("--all does not list %s:\n%s", other, r)
	}
}

// TestTopicsRecognisesStoreTopics checks topics on topics written by the
// Kafka event store and the Kafka snapshot store themselves.
func TestTopicsRecognisesStoreTopics(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, events, 2, kafkatest.EventsTopicConfig())
	es, err := eskafka.New(ctx, c.Client(t), events)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	if _, err := es.Append(ctx, "acc-1", eventstore.NoStream, eventstore.Event{Type: "test.Opened", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	snaps := kafkatest.TopicName(t, "snapshot")
	c.CreateTopic(t, snaps, 2, map[string]*string{"cleanup.policy": strp("compact")})
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	// The snapshot must be on every replica when Save returns, or on a
	// replicated cluster topics may sample the topic before the high
	// watermark covers it and find it empty.
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cl, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ss, err := snapkafka.New(ctx, cl, snaps)
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	if err := ss.Save(ctx, snapshot.Snapshot{StreamID: "acc-1", Version: 1, Type: "test.State", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	r := kafkaes(t, "topics", brokers(c), "--topic", events+","+snaps)
	if r.code != exitOK {
		t.Fatalf("topics of the stores:\n%s", r)
	}
	if f := row(r.stdout, events); f == nil || f[0] != "events" || f[6] != "ok" {
		t.Errorf("events topic of the store: %v\n%s", f, r)
	}
	if f := row(r.stdout, snaps); f == nil || f[0] != "snapshots" || f[6] != "ok" {
		t.Errorf("snapshot topic of the store: %v\n%s", f, r)
	}
}

// TestSampleKindDeletedTopic checks that sampling a topic deleted since
// it was listed fails with an error topics can tell apart (it skips such
// a topic): on the 3-node CI cluster another suite's topic vanished
// between the listing and the sampling and topics failed as a whole.
func TestSampleKindDeletedTopic(t *testing.T) {
	c := kafkatest.New(t)
	name := kafkatest.TopicName(t, "events-deleted")
	c.CreateTopic(t, name, 1, kafkatest.EventsTopicConfig())
	// As the command connects: its metadata requests must not create the
	// topic again on a broker with auto topic creation on (the default).
	cfg := c.Config()
	cfg.Metadata.AllowAutoTopicCreation = false
	cl, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := sampleKind(t.Context(), cl, name); err != nil {
		t.Fatalf("sample before the delete: %v", err)
	}
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteTopic(name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := sampleKind(t.Context(), cl, name)
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			if !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("error does not say the topic does not exist: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sample after the delete: %v, want an error wrapping ErrUnknownTopicOrPartition", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
