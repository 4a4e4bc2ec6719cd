package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

func decodeLines(t *testing.T, out string) []eventLine {
	t.Helper()
	var evs []eventLine
	for _, l := range lines(out) {
		var ev eventLine
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("output line %q is not JSON: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestStream(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const nparts = 3
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	// Interleave the target stream with others on all partitions, with an
	// aborted transaction that holds a would-be event of the stream.
	for v := 1; v <= 4; v++ {
		p.send(topic, nparts, event("acc-1", int64(v), fmt.Sprintf("acc-1-%d", v), fmt.Sprintf(`{"amount": %d}`, v*10)))
		p.send(topic, nparts, streamEvents(fmt.Sprintf("other-%d", v), 2)...)
		if v == 2 {
			tx.txn(false, topic, nparts, event("acc-1", 3, "aborted", `{"amount": -1}`))
		}
	}
	bin := event("acc-1", 5, "acc-1-5", "")
	bin.value = []byte{0xff, 0x01, 0x02}
	p.send(topic, nparts, bin)
	tx.txn(true, topic, nparts, event("acc-1", 6, "acc-1-6", `{"amount": 60}`))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := kafkaesCtx(ctx, t, "stream", "acc-1", brokers(c), "--topic", topic)
	if r.code != exitOK {
		t.Fatalf("stream:\n%s", r)
	}
	evs := decodeLines(t, r.stdout)
	if len(evs) != 6 {
		t.Fatalf("want 6 events of acc-1, got %d:\n%s", len(evs), r)
	}
	for i, ev := range evs {
		if ev.Stream != "acc-1" || ev.Version != int64(i+1) || ev.ID != fmt.Sprintf("acc-1-%d", i+1) || ev.Topic != topic {
			t.Errorf("line %d: %+v", i, ev)
		}
		if ev.Type != "test.Happened" || ev.Correlation != "corr-"+ev.ID || ev.Metadata["user"] != "ada" || ev.Time != "2026-11-24T07:00:00Z" {
			t.Errorf("line %d: headers not shown: %+v", i, ev)
		}
		if i > 0 && ev.Offset <= evs[i-1].Offset {
			t.Errorf("line %d: offsets not increasing: %d after %d", i, ev.Offset, evs[i-1].Offset)
		}
	}
	if got := string(evs[0].Data); got != `{"amount":10}` {
		t.Errorf("JSON payload shown as %s", got)
	}
	if evs[4].Data != nil || evs[4].DataBase64 != "/wEC" {
		t.Errorf("binary payload: %+v", evs[4])
	}

	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--limit", "2")
	if r.code != exitOK || len(lines(r.stdout)) != 2 {
		t.Errorf("--limit 2:\n%s", r)
	}
	r = kafkaes(t, "stream", "nobody", brokers(c), "--topic", topic)
	if r.code != exitViolation || !strings.Contains(r.stderr, `stream "nobody" has no events`) {
		t.Errorf("missing stream:\n%s", r)
	}

	// A damaged stream is printed, and everything verify would flag is
	// reported on stderr with exit status 1: a record that is not a valid
	// event, a version gap, a repeated version.
	corrupt := event("acc-bad", 2, "bad-2", `{}`)
	corrupt.headers = nil
	p.send(topic, nparts, event("acc-bad", 1, "bad-1", `{}`), corrupt, event("acc-bad", 4, "bad-4", `{}`), event("acc-bad", 4, "bad-4b", `{}`))
	r = kafkaes(t, "stream", "acc-bad", brokers(c), "--topic", topic)
	if r.code != exitViolation || len(lines(r.stdout)) != 4 {
		t.Fatalf("damaged stream: want exit %d and 4 lines\n%s", exitViolation, r)
	}
	for _, want := range []string{"VIOLATION corrupt-record", "VIOLATION version-gap", "versions 2..3 are missing", "VIOLATION duplicate-version", `stream "acc-bad": 3 problems found`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, r)
		}
	}
	if evs := decodeLines(t, r.stdout); evs[1].Error == "" {
		t.Errorf("the corrupt record's line has no error: %+v", evs[1])
	}
}

func TestTail(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const nparts = 2
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")
	p.send(topic, nparts, streamEvents("old", 3)...)

	// --from-beginning with a limit ends by itself.
	r := kafkaes(t, "tail", brokers(c), "--topic", topic, "--from-beginning", "--limit", "3")
	if r.code != exitOK || len(decodeLines(t, r.stdout)) != 3 {
		t.Fatalf("tail --from-beginning --limit 3:\n%s", r)
	}

	// Following from the end: the old events are not shown, new committed
	// ones are, aborted ones never; it runs until the context ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runEnv(ctx, []string{"tail", brokers(c), "--topic", topic}, &out, &errOut, noEnv)
	}()
	waitFor(t, "tail to start following", func() bool { return strings.Contains(errOut.String(), "following") })
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	tx.txn(false, topic, nparts, event("new", 1, "aborted", `{}`))
	p.send(topic, nparts, streamEvents("new", 2)...)
	tx.txn(true, topic, nparts, event("new", 3, "new-3", `{}`))
	waitFor(t, "3 new events", func() bool { return len(lines(out.String())) >= 3 })
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("tail ended with exit %d after Ctrl-C; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tail did not stop after its context was cancelled")
	}
	evs := decodeLines(t, out.String())
	if len(evs) != 3 {
		t.Fatalf("want 3 events, got:\n%s", out.String())
	}
	for _, ev := range evs {
		if ev.Stream != "new" || ev.ID == "aborted" {
			t.Errorf("unexpected event %+v", ev)
		}
	}
}

// TestStreamAsOf: --to-version and --as-of print the stream as it was at a
// version or a time and stop there; a version the stream does not have yet
// or a time before its first event is an error (exit 1), a bad bound a
// usage error (exit 3).
func TestStreamAsOf(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const nparts = 2
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")
	for v := 1; v <= 5; v++ {
		at := testTime.Add(time.Duration(v) * time.Hour)
		key, hs := wire.Encode("acc-1", int64(v), eventstore.Event{ID: fmt.Sprintf("acc-1-%d", v), Type: "test.Happened", Data: []byte(`{}`)}, at)
		p.send(topic, nparts, testRecord{key: key, value: []byte(`{}`), headers: hs, partition: -1})
		p.send(topic, nparts, streamEvents(fmt.Sprintf("other-%d", v), 1)...)
	}
	versions := func(r result) []int64 {
		var vs []int64
		for _, ev := range decodeLines(t, r.stdout) {
			vs = append(vs, ev.Version)
		}
		return vs
	}
	r := kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--to-version", "3")
	if r.code != exitOK || fmt.Sprint(versions(r)) != "[1 2 3]" {
		t.Errorf("--to-version 3:\n%s", r)
	}
	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--to-version", "9")
	if r.code != exitViolation || fmt.Sprint(versions(r)) != "[1 2 3 4 5]" || !strings.Contains(r.stderr, `stream "acc-1" has 5 events, no version 9`) {
		t.Errorf("--to-version 9:\n%s", r)
	}
	asOf := testTime.Add(2*time.Hour + 30*time.Minute).Format(time.RFC3339)
	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--as-of", asOf)
	if r.code != exitOK || fmt.Sprint(versions(r)) != "[1 2]" {
		t.Errorf("--as-of %s:\n%s", asOf, r)
	}
	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--as-of", testTime.Add(4*time.Hour).Format(time.RFC3339))
	if r.code != exitOK || fmt.Sprint(versions(r)) != "[1 2 3 4]" {
		t.Errorf("--as-of the time of version 4 includes it:\n%s", r)
	}
	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--as-of", testTime.Format(time.RFC3339))
	if r.code != exitViolation || !strings.Contains(r.stderr, "no events recorded at or before") {
		t.Errorf("--as-of before the first event:\n%s", r)
	}
	r = kafkaes(t, "stream", "acc-1", brokers(c), "--topic", topic, "--as-of", "yesterday")
	if r.code != exitUsage || !strings.Contains(r.stderr, "RFC 3339") {
		t.Errorf("--as-of yesterday:\n%s", r)
	}
}
