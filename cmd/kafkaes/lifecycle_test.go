package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestStreamAndVerifyShowMarkers: `stream` prints lifecycle markers with
// "marker" set and says what they mean for loads; `verify` accepts them
// (they take versions like events) and reports a forged one.
func TestStreamAndVerifyShowMarkers(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const nparts = 2
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := kafka.New(ctx, c.Client(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	step := eventstore.Event{Type: "test.Step", Data: []byte(`{"step":1}`)}
	for _, id := range []string{"del", "trunc", "again"} {
		if _, err := st.Append(ctx, id, eventstore.NoStream, step, step); err != nil {
			t.Fatal(err)
		}
	}
	must := func(_ eventstore.AppendResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.DeleteStream(ctx, "del", eventstore.Exact(2)))
	must(st.TruncateStream(ctx, "trunc", eventstore.Exact(2), 2))
	must(st.DeleteStream(ctx, "again", eventstore.Exact(2)))
	must(eventstore.Recreate(ctx, st, "again", eventstore.Exact(3), step))

	r := kafkaesCtx(ctx, t, "stream", "del", brokers(c), "--topic", topic, "--quiet")
	evs := decodeLines(t, r.stdout)
	if r.code != exitOK || len(evs) != 3 || evs[2].Marker != "deleted" || evs[2].Version != 3 || evs[2].Type != eventstore.TypeStreamDeleted || evs[0].Marker != "" {
		t.Fatalf("stream del:\n%s", r)
	}
	if !strings.Contains(r.stderr, `stream "del" is deleted (delete marker at version 3)`) {
		t.Errorf("stream del does not say the stream is deleted:\n%s", r.stderr)
	}
	r = kafkaesCtx(ctx, t, "stream", "trunc", brokers(c), "--topic", topic, "--quiet")
	evs = decodeLines(t, r.stdout)
	if r.code != exitOK || len(evs) != 3 || evs[2].Marker != "truncated" || evs[2].TruncateBefore != 2 {
		t.Fatalf("stream trunc:\n%s", r)
	}
	if !strings.Contains(r.stderr, "truncated before version 2") {
		t.Errorf("stream trunc does not say the stream is truncated:\n%s", r.stderr)
	}
	r = kafkaesCtx(ctx, t, "stream", "again", brokers(c), "--topic", topic, "--quiet")
	if evs = decodeLines(t, r.stdout); r.code != exitOK || len(evs) != 4 || !strings.Contains(r.stderr, "recreated: loads read from version 4") {
		t.Fatalf("stream again:\n%s", r)
	}

	r = kafkaesCtx(ctx, t, "verify", brokers(c), "--topic", topic, "--quiet")
	if r.code != exitOK || !strings.Contains(r.stdout, "10 events of 3 streams") {
		t.Fatalf("verify of a topic with markers:\n%s", r)
	}

	// A record of a reserved type that is not a valid marker is reported.
	p := newProducer(t, c, "")
	key, hs := wire.Encode("trunc", 4, eventstore.Event{ID: "forged", Type: eventstore.TypeStreamTruncated}, testTime)
	p.send(topic, nparts, testRecord{key: key, headers: hs, partition: -1})
	r = kafkaesCtx(ctx, t, "verify", brokers(c), "--topic", topic, "--quiet")
	if r.code != exitViolation || !strings.Contains(r.stdout, vMarker) {
		t.Fatalf("verify of a forged marker:\n%s", r)
	}
}
