package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

const depositedV1 = `{"type":"record","name":"Deposited","namespace":"bank","fields":[
	{"name":"amount","type":"long"},
	{"name":"currency","type":"string"}]}`

// register registers schema under subject and returns its ID.
func register(t *testing.T, client srclient.ISchemaRegistryClient, subject, schema string, refs ...srclient.Reference) int {
	t.Helper()
	s, err := client.CreateSchema(subject, schema, srclient.Avro, refs...)
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return s.ID()
}

// framed encodes native with schema in the Confluent wire format.
func framed(t *testing.T, id int, schema string, native any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5, 64)
	binary.BigEndian.PutUint32(buf[1:], uint32(id))
	buf, err = codec.BinaryFromNative(buf, native)
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

func avroEvent(stream string, version int64, id string, value []byte) testRecord {
	key, hs := wire.Encode(stream, version, eventstore.Event{ID: id, Type: "bank.Deposited", Data: value}, testTime)
	return testRecord{key: key, value: value, headers: hs, partition: -1}
}

// Deposited is written by the avro serde of package serde/avro, as a
// service would.
type Deposited struct {
	Amount   int64  `avro:"amount"`
	Currency string `avro:"currency"`
}

func TestStreamAndVerifyDecodeAvro(t *testing.T) {
	c := kafkatest.New(t)
	client, url := avrotest.Registry(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	id := register(t, client, topic+"-bank.Deposited", depositedV1)

	// A schema with a reference to another subject's schema.
	// (Transfer -> Money -> Currency, each in its own subject.)
	register(t, client, topic+"-bank.Currency", `{"type":"enum","name":"Currency","namespace":"bank","symbols":["EUR","USD"]}`)
	register(t, client, topic+"-bank.Money", `{"type":"record","name":"Money","namespace":"bank","fields":[{"name":"cents","type":"long"},{"name":"currency","type":"Currency"}]}`,
		srclient.Reference{Name: "bank.Currency", Subject: topic + "-bank.Currency", Version: 1})
	transfer := `{"type":"record","name":"Transfer","namespace":"bank","fields":[{"name":"amount","type":"Money"},{"name":"fee","type":["null","bank.Money"],"default":null}]}`
	transferID := register(t, client, topic+"-bank.Transfer", transfer, srclient.Reference{Name: "bank.Money", Subject: topic + "-bank.Money", Version: 1})
	transferFull := `{"type":"record","name":"Transfer","namespace":"bank","fields":[{"name":"amount","type":{"type":"record","name":"Money","fields":[{"name":"cents","type":"long"},{"name":"currency","type":{"type":"enum","name":"Currency","symbols":["EUR","USD"]}}]}},{"name":"fee","type":["null","bank.Money"],"default":null}]}`

	// One event written by the avro serde itself.
	reg := serde.NewRegistry()
	serde.MustRegister[Deposited](reg, "bank.Deposited")
	sd, err := avro.New(t.Context(), reg, client, topic)
	if err != nil {
		t.Fatal(err)
	}
	_, bySerde, err := sd.Marshal(context.Background(), Deposited{Amount: 7, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}

	p := newProducer(t, c, "")
	p.send(topic, 2,
		avroEvent("acc-1", 1, "e1", framed(t, id, depositedV1, map[string]any{"amount": int64(250), "currency": "EUR"})),
		avroEvent("acc-1", 2, "e2", bySerde),
		avroEvent("acc-1", 3, "e3", framed(t, transferID, transferFull, map[string]any{
			"amount": map[string]any{"cents": int64(5), "currency": "EUR"},
			"fee":    goavro.Union("bank.Money", map[string]any{"cents": int64(1), "currency": "EUR"}),
		})),
	)

	r := kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--schema-registry", url)
	evs := decodeLines(t, r.stdout)
	if r.code != exitOK || len(evs) != 3 {
		t.Fatalf("stream with registry:\n%s", r)
	}
	for i, want := range []string{
		`{"amount":250,"currency":"EUR"}`,
		`{"amount":7,"currency":"USD"}`,
		`{"amount":{"cents":5,"currency":"EUR"},"fee":{"cents":1,"currency":"EUR"}}`,
	} {
		// Exactly the text: record fields in schema order.
		if got := string(evs[i].Data); got != want || evs[i].SchemaID == nil || evs[i].DataError != "" {
			t.Errorf("event %d: data %s (schema %v, error %q), want %s", i+1, got, evs[i].SchemaID, evs[i].DataError, want)
		}
	}
	// Without a registry the payload is shown raw, with its schema ID.
	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--limit", "1")
	evs = decodeLines(t, r.stdout)
	if r.code != exitOK || len(evs) != 1 || evs[0].SchemaID == nil || *evs[0].SchemaID != id || evs[0].DataBase64 == "" || evs[0].Data != nil {
		t.Fatalf("stream without registry:\n%s", r)
	}

	r = kafkaes(t, "verify", brokers(c), "--topic", topic, "--schema-registry", url)
	if r.code != exitOK || !strings.Contains(r.stdout, "payloads decoded with the Schema Registry: OK") {
		t.Fatalf("verify with registry of a good topic:\n%s", r)
	}

	// Undecodable payloads.
	bad := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, bad, 1, kafkatest.EventsTopicConfig())
	good := framed(t, id, depositedV1, map[string]any{"amount": int64(1), "currency": "EUR"})
	unknownID := append([]byte{0, 0x7f, 0xff, 0xff, 0xf0}, good[5:]...)
	p.send(bad, 1,
		avroEvent("acc-1", 1, "b1", good),
		avroEvent("acc-1", 2, "b2", unknownID),
		avroEvent("acc-1", 3, "b3", good[:len(good)-2]),
		avroEvent("acc-1", 4, "b4", append(append([]byte{}, good...), 0x02)),
		avroEvent("acc-1", 5, "b5", []byte(`{"amount":1}`)), // JSON, decided by its framing: fine
		avroEvent("acc-1", 6, "b6", []byte("\x01not json")),
	)
	r = kafkaes(t, "verify", brokers(c), "--topic", bad, "--schema-registry", url, "--json")
	if r.code != exitViolation {
		t.Fatalf("verify of undecodable payloads: want exit %d\n%s", exitViolation, r)
	}
	want := map[int64]string{1: "not found", 2: "does not decode", 3: "left over", 5: "neither Confluent-framed Avro"}
	got := map[int64]string{}
	for _, l := range lines(r.stdout) {
		var v violation
		if json.Unmarshal([]byte(l), &v) == nil && v.Kind != "" {
			if v.Kind != vPayload {
				t.Errorf("unexpected violation %+v", v)
			}
			got[v.Offset] = v.Message
		}
	}
	for off, text := range want {
		if !strings.Contains(got[off], text) {
			t.Errorf("offset %d: violation %q, want one containing %q", off, got[off], text)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got violations %v, want %d", got, len(want))
	}
	// The payload checks need the registry; the wire checks alone pass.
	if r := kafkaes(t, "verify", brokers(c), "--topic", bad); r.code != exitOK {
		t.Errorf("verify without registry:\n%s", r)
	}
	// A registry that cannot be reached stops verify instead of reporting
	// every record.
	r = kafkaes(t, "verify", brokers(c), "--topic", bad, "--schema-registry", "http://127.0.0.1:1", "--timeout", "2s")
	if r.code != exitFailure || !strings.Contains(r.stderr, "Schema Registry at http://127.0.0.1:1") {
		t.Errorf("verify with an unreachable registry:\n%s", r)
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSchemaCheck(t *testing.T) {
	client, url := avrotest.Registry(t)
	topic := kafkatest.TopicName(t, "events")
	subject := topic + "-bank.Deposited"
	register(t, client, subject, depositedV1)

	compatible := writeFile(t, "v2.avsc", `{"type":"record","name":"Deposited","namespace":"bank","fields":[
		{"name":"amount","type":"long"},{"name":"currency","type":"string"},
		{"name":"note","type":"string","default":""}]}`)
	noDefault := writeFile(t, "v2-bad.avsc", `{"type":"record","name":"Deposited","namespace":"bank","fields":[
		{"name":"amount","type":"long"},{"name":"currency","type":"string"},
		{"name":"fee","type":"long"}]}`)
	retyped := writeFile(t, "v2-retyped.avsc", `{"type":"record","name":"Deposited","namespace":"bank","fields":[
		{"name":"amount","type":"string"},{"name":"currency","type":"string"}]}`)
	broken := writeFile(t, "broken.avsc", `{"type":"record","name":"Deposited","fields":[{"name":"amount"}]}`)
	other := writeFile(t, "withdrawn.avsc", `{"type":"record","name":"Withdrawn","namespace":"bank","fields":[{"name":"amount","type":"long"}]}`)

	run := func(args ...string) result {
		return kafkaes(t, append([]string{"schema", "check", "--schema-registry", url, "--topic", topic}, args...)...)
	}
	r := run(compatible, "--level", "FULL_TRANSITIVE")
	if r.code != exitOK || !strings.Contains(r.stdout, "is compatible with subject "+`"`+subject+`"`) {
		t.Errorf("compatible change:\n%s", r)
	}
	r = run(noDefault, "--level", "BACKWARD")
	if r.code != exitViolation || !strings.Contains(r.stdout, "INCOMPATIBLE") || !strings.Contains(r.stdout, "fee") || !strings.Contains(r.stdout, "version 1") {
		t.Errorf("new field without default under BACKWARD:\n%s", r)
	}
	// The same change is fine for FORWARD: old readers ignore the field.
	if r := run(noDefault, "--level", "FORWARD"); r.code != exitOK {
		t.Errorf("new field without default under FORWARD:\n%s", r)
	}
	r = run(retyped, "--level", "FULL")
	if r.code != exitViolation || !strings.Contains(r.stdout, "amount") || !strings.Contains(r.stdout, "rule:") {
		t.Errorf("field type change:\n%s", r)
	}
	// Without --level the subject's level in the registry applies.
	r = run(retyped)
	if r.code != exitViolation || !strings.Contains(r.stdout, "from the registry's level") {
		t.Errorf("field type change at the registry's level:\n%s", r)
	}
	if r := run(broken); r.code != exitViolation || !strings.Contains(r.stderr, "is not a valid Avro schema") {
		t.Errorf("invalid schema file:\n%s", r)
	}
	if r := run(other); r.code != exitOK || !strings.Contains(r.stdout, "has no versions yet") || !strings.Contains(r.stdout, topic+"-bank.Withdrawn") {
		t.Errorf("new subject:\n%s", r)
	}
	// --subject names the subject directly.
	if r := run(retyped, "--subject", subject, "--level", "BACKWARD"); r.code != exitViolation {
		t.Errorf("--subject:\n%s", r)
	}
	if r := run(filepath.Join(t.TempDir(), "missing.avsc")); r.code != exitFailure {
		t.Errorf("missing file:\n%s", r)
	}
	r = kafkaes(t, "schema", "check", "--schema-registry", "http://127.0.0.1:1", "--timeout", "2s", "--topic", topic, compatible)
	if r.code != exitFailure || !strings.Contains(r.stderr, "Schema Registry at http://127.0.0.1:1") {
		t.Errorf("unreachable registry:\n%s", r)
	}
}
