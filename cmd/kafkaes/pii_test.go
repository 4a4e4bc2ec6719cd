package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

// Admitted has two personal-data fields.
type Admitted struct {
	pii.Redactable
	PatientID string `avro:"patientId"`
	Name      string `avro:"name" pii:"PatientID"`
	Born      string `avro:"born" pii:"PatientID"`
}

func TestVerifyPlaintextAndErase(t *testing.T) {
	ctx := t.Context()
	c := kafkatest.New(t)
	client, url := avrotest.Registry(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())

	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cl, err := sarama.NewClient(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	keys, err := kafkakeys.New(ctx, cl, kafkakeys.DefaultTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig()); err == nil {
			_ = a.DeleteTopic(kafkakeys.DefaultTopic(topic))
			_ = a.Close()
		}
	})
	defer keys.Close()
	reg := serde.NewRegistry()
	serde.MustRegister[Admitted](reg, "clinic.Admitted")
	sd, err := avro.New(ctx, reg, client, topic, avro.WithEncryption(pii.NewEncryptor(keys)))
	if err != nil {
		t.Fatal(err)
	}
	_, encrypted, err := sd.Marshal(context.Background(), Admitted{PatientID: "p-1", Name: "Ada Lovelace", Born: "1815-12-10"})
	if err != nil {
		t.Fatal(err)
	}
	schema, _ := sd.SchemaFor("clinic.Admitted")
	id := register(t, client, topic+"-clinic.Admitted", schema)
	// A producer that does not encrypt, with the same registered schema.
	plain := framed(t, id, schema, map[string]any{"patientId": "p-2", "name": "Alan Turing", "born": ""})
	ev := func(stream, eid string, value []byte) testRecord {
		key, hs := wire.Encode(stream, 1, eventstore.Event{ID: eid, Type: "clinic.Admitted", Data: value}, testTime)
		return testRecord{key: key, value: value, headers: hs, partition: -1}
	}
	p := newProducer(t, c, "")
	p.send(topic, 1, ev("patient-p-1", "e1", encrypted), ev("patient-p-2", "e2", plain))

	r := kafkaes(t, "verify", brokers(c), "--topic", topic, "--schema-registry", url)
	if r.code != exitViolation || !strings.Contains(r.stdout, `VIOLATION pii-plaintext`) || !strings.Contains(r.stdout, `stream "patient-p-2"`) ||
		strings.Contains(r.stdout, `"patient-p-1"`) || !strings.Contains(r.stdout, "field(s) name are marked") {
		t.Fatalf("verify should report the plaintext name of patient-p-2 only:\n%s", r)
	}

	// The CLI shows the encrypted record's fields as envelopes.
	r = kafkaes(t, "stream", "patient-p-1", brokers(c), "--topic", topic, "--schema-registry", url)
	if r.code != exitOK || strings.Contains(r.stdout, "Ada") || !strings.Contains(r.stdout, `"name":"pii:`) {
		t.Fatalf("stream of an encrypted event:\n%s", r)
	}

	// With --key-topic the operator sees the plaintext.
	kt := kafkakeys.DefaultTopic(topic)
	r = kafkaes(t, "stream", "patient-p-1", brokers(c), "--topic", topic, "--schema-registry", url, "--key-topic", kt)
	if r.code != exitOK || !strings.Contains(r.stdout, `"name":"Ada Lovelace"`) || strings.Contains(r.stdout, `"redacted"`) {
		t.Fatalf("stream --key-topic:\n%s", r)
	}
	r = kafkaes(t, "erase", "p-1", brokers(c), "--topic", topic)
	if r.code != exitOK || !strings.Contains(r.stdout, `subject "p-1" has key`) || !strings.Contains(r.stdout, "--yes") {
		t.Fatalf("erase without --yes:\n%s", r)
	}
	k, err := keys.Get(ctx, "p-1", 0)
	if err != nil {
		t.Fatalf("erase without --yes erased: %v", err)
	}
	r = kafkaes(t, "erase", "p-1", brokers(c), "--topic", topic, "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "erased: subject \"p-1\" has key") {
		t.Fatalf("erase --yes:\n%s", r)
	}
	if _, err := keys.Get(ctx, "p-1", k.ID+1); !errors.Is(err, pii.ErrKeyNotFound) { // an unknown ID: reads the topic to its end
		t.Fatalf("after erase: %v", err)
	}
	// The store learns of other instances' erasures by polling; Sync
	// makes it read them now.
	if err := keys.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Get(ctx, "p-1", k.ID); !errors.Is(err, pii.ErrKeyNotFound) {
		t.Fatalf("after erase and sync: %v", err)
	}
	v, err := sd.Unmarshal(ctx, "clinic.Admitted", encrypted)
	if err != nil || !pii.IsRedacted(v, "Name", "Born") || v.(Admitted).Name != "" {
		t.Fatalf("decode after erase: %v %+v", err, v)
	}
	// After the erasure the CLI shows the fields redacted: zero values,
	// listed under "redacted".
	r = kafkaes(t, "stream", "patient-p-1", brokers(c), "--topic", topic, "--schema-registry", url, "--key-topic", kt)
	if r.code != exitOK || !strings.Contains(r.stdout, `"name":""`) || !strings.Contains(r.stdout, `"redacted":["name","born"]`) || strings.Contains(r.stdout, "Ada") {
		t.Fatalf("stream --key-topic after erase:\n%s", r)
	}
	r = kafkaes(t, "stream", "patient-p-1", brokers(c), "--topic", topic, "--key-topic", kt)
	if r.code != exitFailure || !strings.Contains(r.stderr, "--key-topic needs --schema-registry") {
		t.Fatalf("stream --key-topic without a registry:\n%s", r)
	}
	r = kafkaes(t, "erase", "p-9", brokers(c), "--topic", topic, "--key-topic", "no-such-keys", "--yes")
	if r.code != exitFailure || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("erase with a missing key topic:\n%s", r)
	}
}
