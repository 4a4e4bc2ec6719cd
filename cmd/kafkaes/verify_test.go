package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// writeGoodTopic writes a valid events topic of 3 partitions that also
// holds an aborted transaction in the middle (with records that would be
// violations if they were read) and ends with a committed and an aborted
// transaction, so every partition's last offsets are transaction markers
// and aborted records. It returns the number of committed events.
func writeGoodTopic(t *testing.T, c *kafkatest.Cluster, topic string) int {
	t.Helper()
	const nparts = 3
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	plain := newProducer(t, c, "")
	n := 0
	for _, s := range []string{"acc-1", "acc-2", "acc-3", "acc-4"} {
		plain.send(topic, nparts, streamEvents(s, 3)...)
		n += 3
	}
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	// Aborted: a duplicate version, a gap, a reused event ID, a foreign
	// record. read_committed readers never see them.
	tx.txn(false, topic, nparts,
		event("acc-1", 3, "dup-version", `{}`),
		event("acc-2", 9, "gap", `{}`),
		event("acc-3", 4, "acc-1-1", `{}`),
		testRecord{key: []byte("foreign"), value: []byte("x"), partition: 0},
		testRecord{key: []byte("foreign"), value: []byte("x"), partition: 1},
		testRecord{key: []byte("foreign"), value: []byte("x"), partition: 2},
	)
	tx.txn(true, topic, nparts, event("acc-1", 4, "acc-1-4", `{"n":4}`), event("acc-2", 4, "acc-2-4", `{"n":4}`))
	n += 2
	tx.txn(false, topic, nparts,
		event("acc-1", 4, "again", `{}`),
		testRecord{key: []byte("foreign"), value: []byte("x"), partition: 0},
		testRecord{key: []byte("foreign"), value: []byte("x"), partition: 1},
		testRecord{key: []byte("foreign"), value: []byte("x"), partition: 2},
	)
	return n
}

func TestVerifyPassesOnGoodTopic(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	n := writeGoodTopic(t, c, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang fails instead of blocking the suite
	defer cancel()
	r := kafkaesCtx(ctx, t, "verify", brokers(c), "--topic", topic)
	if r.code != exitOK {
		t.Fatalf("verify of a good topic failed:\n%s", r)
	}
	want := fmt.Sprintf("%d events of 4 streams", n)
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, ": OK") {
		t.Errorf("summary does not say %q and OK:\n%s", want, r)
	}
	if strings.Contains(r.stdout, "VIOLATION") {
		t.Errorf("violations reported for a good topic:\n%s", r)
	}
}

func TestVerifyEmptyTopic(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	r := kafkaes(t, "verify", brokers(c), "--topic", topic)
	if r.code != exitOK || !strings.Contains(r.stdout, "0 records in 2 partitions") {
		t.Fatalf("verify of an empty topic:\n%s", r)
	}
}

// TestVerifyPassesOnStoreTopic checks a topic written by the Kafka event
// store itself (transactions, group commit, conflict scans).
func TestVerifyPassesOnStoreTopic(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 4, kafkatest.EventsTopicConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := kafka.New(ctx, c.Client(t), topic)
	if err != nil {
		t.Fatalf("kafka store: %v", err)
	}
	defer st.Close()
	for i := range 6 {
		id := fmt.Sprintf("order-%d", i)
		for v := range 3 {
			_, err := st.Append(ctx, id, eventstore.Exact(int64(v)), eventstore.Event{Type: "test.Step", Data: []byte(fmt.Sprintf(`{"step":%d}`, v))})
			if err != nil {
				t.Fatalf("append %s v%d: %v", id, v+1, err)
			}
		}
	}
	// A conflicting append leaves nothing visible.
	if _, err := st.Append(ctx, "order-0", eventstore.Exact(1), eventstore.Event{Type: "test.Step", Data: []byte(`{}`)}); err == nil {
		t.Fatal("stale append succeeded")
	}
	r := kafkaesCtx(ctx, t, "verify", brokers(c), "--topic", topic, "--quiet")
	if r.code != exitOK || !strings.Contains(r.stdout, "18 events of 6 streams") {
		t.Fatalf("verify of a store-written topic:\n%s", r)
	}
}

func TestVerifyFindsViolations(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	const nparts = 2
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")

	wrongPart := 1 - wire.PartitionString("s-d", nparts)
	badVersion := event("s-e", 1, "s-e-1", `{}`)
	for i, h := range badVersion.headers {
		if string(h.Key) == wire.HeaderVersion {
			badVersion.headers[i].Value = []byte("01")
		}
	}
	type want struct {
		kind    string
		stream  string
		version int64
		text    string
	}
	plan := []struct {
		rec testRecord
		w   *want
	}{
		{event("s-a", 1, "s-a-1", `{}`), nil},
		{event("s-a", 2, "s-a-2", `{}`), nil},
		{event("s-a", 4, "s-a-4", `{}`), &want{vGap, "s-a", 4, "version 3 is missing"}},
		{event("s-b", 1, "s-b-1", `{}`), nil},
		{event("s-b", 2, "s-b-2", `{}`), nil},
		{event("s-b", 2, "s-b-2-again", `{}`), &want{vDuplicate, "s-b", 2, "two events with version 2"}},
		{event("s-c", 1, "s-a-1", `{}`), &want{vDuplicateID, "s-c", 1, `event ID "s-a-1" was already used`}},
		{event("s-f", 3, "s-f-3", `{}`), &want{vGap, "s-f", 3, "first event has version 3"}},
		{testRecord{key: []byte("not-an-event"), value: []byte("hello"), partition: 0}, &want{vCorrupt, "not-an-event", 0, "no es.version header"}},
		{testRecord{value: []byte("no key"), partition: 1}, &want{vCorrupt, "", 0, "no es.version header"}},
		{badVersion, &want{vCorrupt, "s-e", 0, "bad es.version header"}},
	}
	wrong := event("s-d", 1, "s-d-1", `{}`)
	wrong.partition = wrongPart
	plan = append(plan, struct {
		rec testRecord
		w   *want
	}{wrong, &want{vWrongPart, "s-d", 1, fmt.Sprintf("belongs on partition %d", 1-wrongPart)}})

	type loc struct {
		partition int32
		offset    int64
	}
	expected := map[loc]want{}
	for _, step := range plan {
		off := p.send(topic, nparts, step.rec)[0]
		part := step.rec.partition
		if part < 0 {
			part = wire.Partition(step.rec.key, nparts)
		}
		if step.w != nil {
			expected[loc{part, off}] = *step.w
		}
	}

	r := kafkaes(t, "verify", brokers(c), "--topic", topic, "--json")
	if r.code != exitViolation {
		t.Fatalf("verify of a broken topic: want exit %d\n%s", exitViolation, r)
	}
	got := map[loc]violation{}
	for _, l := range lines(r.stdout) { // only JSON objects with --json
		var v violation
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("violation line %q is not JSON: %v", l, err)
		}
		if v.Topic != topic {
			t.Errorf("violation names topic %q, want %q", v.Topic, topic)
		}
		got[loc{v.Partition, v.Offset}] = v
	}
	for at, w := range expected {
		v, ok := got[at]
		if !ok {
			t.Errorf("no violation reported at partition %d offset %d, want %s (%s)", at.partition, at.offset, w.kind, w.text)
			continue
		}
		if v.Kind != w.kind || v.Stream != w.stream || v.Version != w.version || !strings.Contains(v.Message, w.text) {
			t.Errorf("at partition %d offset %d: got %+v, want kind %s stream %q version %d message containing %q", at.partition, at.offset, v, w.kind, w.stream, w.version, w.text)
		}
	}
	for at, v := range got {
		if _, ok := expected[at]; !ok {
			t.Errorf("unexpected violation %+v", v)
		}
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("%d violations", len(expected))) {
		t.Errorf("summary on stderr does not count %d violations:\n%s", len(expected), r)
	}

	// Human-readable output, cut to 2 violations, still counts all and
	// still fails.
	r = kafkaes(t, "verify", brokers(c), "--topic", topic, "--max-violations", "2")
	if r.code != exitViolation {
		t.Fatalf("verify --max-violations: want exit %d\n%s", exitViolation, r)
	}
	shown := 0
	for _, l := range lines(r.stdout) {
		if strings.HasPrefix(l, "VIOLATION ") {
			shown++
			if !strings.Contains(l, topic+"/") {
				t.Errorf("violation line does not name topic/partition@offset: %q", l)
			}
		}
	}
	if shown != 2 || !strings.Contains(r.stderr, "more violations not shown") || !strings.Contains(r.stdout, fmt.Sprintf("%d violations (", len(expected))) {
		t.Errorf("want 2 violations shown, a note on stderr and %d counted:\n%s", len(expected), r)
	}
	kinds := []string{vCorrupt, vDuplicate, vDuplicateID, vGap, vWrongPart}
	for _, k := range kinds {
		if !strings.Contains(r.stdout, k+" ") {
			t.Errorf("summary does not count %s:\n%s", k, r.stdout)
		}
	}
}

func TestVerifyTopicMissing(t *testing.T) {
	c := kafkatest.New(t)
	r := kafkaes(t, "verify", brokers(c), "--topic", kafkatest.TopicName(t, "missing"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("verify of a missing topic:\n%s", r)
	}
}

func TestIDSet(t *testing.T) {
	var s idSet
	ids := []string{
		"7d444840-9dc0-41d1-b245-5ffdce74fad2",
		"7D444840-9DC0-41D1-B245-5FFDCE74FAD2", // differs in case: another ID
		"7d444840-9dc0-41d1-b245-5ffdce74fad3",
		"7d4448409dc041d1b2455ffdce74fad2", // not canonical: kept as a string
		"order-1",
		"7d444840-9dc0-41d1-b245-5ffdce74fadg",
	}
	for i, id := range ids {
		if _, dup := s.add(id, idLoc{0, int64(i)}); dup {
			t.Errorf("%q reported as a duplicate", id)
		}
	}
	for i, id := range ids {
		first, dup := s.add(id, idLoc{1, 100})
		if !dup || first != (idLoc{0, int64(i)}) {
			t.Errorf("%q again: dup %v, first %+v; want first at offset %d", id, dup, first, i)
		}
	}
	if len(s.uuids) != 2 || len(s.others) != 4 {
		t.Errorf("%d UUIDs and %d other IDs stored, want 2 and 4", len(s.uuids), len(s.others))
	}
	if u, ok := parseUUID(ids[0]); !ok || u[0] != 0x7d || u[15] != 0xd2 {
		t.Errorf("parseUUID(%q) = %x, %v", ids[0], u, ok)
	}
}

// TestVerifyDeletedRecords checks that verify reports a partition whose
// first records were deleted (retention, delete-records): events are lost.
func TestVerifyDeletedRecords(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	newProducer(t, c, "").send(topic, 1, streamEvents("acc-1", 5)...)
	admin, err := sarama.NewClusterAdmin(c.Brokers, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords(topic, map[int32]int64{0: 2}); err != nil {
		t.Fatalf("delete records: %v", err)
	}
	r := kafkaes(t, "verify", brokers(c), "--topic", topic)
	if r.code != exitViolation ||
		!strings.Contains(r.stdout, "VIOLATION deleted-records "+topic+"/0@2") ||
		!strings.Contains(r.stdout, "first event has version 3") {
		t.Fatalf("verify after delete-records:\n%s", r)
	}
}

// TestNoTopicAutoCreation points the commands that read a topic at a
// missing one on a broker that creates topics on Metadata requests (Apache
// Kafka's stock auto.create.topics.enable=true): each must say the topic
// does not exist, and the topic must stay missing.
func TestNoTopicAutoCreation(t *testing.T) {
	c := kafkatest.NewAutoCreate(t)
	for _, args := range [][]string{
		{"stream", "acc-1"},
		{"verify"},
		{"topics", "hanging"},
		{"tail", "--from-beginning", "--limit", "1"},
	} {
		t.Run(strings.Join(args, "-"), func(t *testing.T) {
			topic := kafkatest.TopicName(t, "missing")
			r := kafkaes(t, append(args, brokers(c), "--topic", topic)...)
			if r.code != exitFailure || !strings.Contains(r.stderr, "does not exist") {
				t.Errorf("want exit %d and 'does not exist'\n%s", exitFailure, r)
			}
			if c.TopicExists(t, topic) {
				t.Errorf("%v created topic %s", args, topic)
			}
		})
	}
}
