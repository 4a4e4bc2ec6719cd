package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/serde"
)

// TestDLQ: dead letters written by a real projection runner through
// kafkaprojection.DLQ are listed per parked stream and shown one stream at
// a time, with reason, origin and the parked flag of the events held
// behind the failed one.
func TestDLQ(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	const nparts = 2
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	c.CreateTopic(t, topic+".dlq", nparts, nil)
	p := newProducer(t, c, "")
	p.send(topic, nparts, event("acc-1", 1, "a1", `{"n": 1}`), event("acc-1", 2, "a2", `{"n": -2}`), event("acc-1", 3, "a3", `{"n": 3}`))
	p.send(topic, nparts, event("acc-2", 1, "b1", `{"n": 1}`), event("acc-3", 1, "c1", `{"n": -1}`))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dlq, err := kafkaprojection.NewDLQ(ctx, c.Client(t), kafkaprojection.DLQTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	reg := serde.NewRegistry()
	serde.MustRegister[happened](reg, "test.Happened")
	var fixed atomic.Bool
	var mu sync.Mutex // the reader delivers the partitions concurrently
	var handled []string
	r, err := projection.New("balances", serde.NewJSON(reg), []projection.Handler{
		projection.On(func(_ context.Context, ev happened, m projection.Meta) error {
			if ev.N < 0 && !fixed.Load() {
				return projection.Permanent(errors.New("negative amount"))
			}
			mu.Lock()
			handled = append(handled, fmt.Sprintf("%s/%d", m.StreamID, m.Version))
			mu.Unlock()
			return nil
		}),
	}, projection.WithFailureAction(projection.DeadLetter), projection.WithDeadLetter(dlq), projection.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	rd, err := kafkaprojection.NewReader(ctx, c.Client(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if err := r.CatchUp(ctx, rd, nil); err != nil {
		t.Fatal(err)
	}

	res := kafkaesCtx(ctx, t, "dlq", "list", brokers(c), "--topic", topic)
	if res.code != exitOK {
		t.Fatalf("dlq list:\n%s", res)
	}
	var got []streamLetters
	for _, l := range lines(res.stdout) {
		var s streamLetters
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, s)
	}
	want := []streamLetters{
		{Projection: "balances", Stream: "acc-1", Letters: 2, Failed: 1, FirstVersion: 2, LastVersion: 3, FirstReason: "negative amount"},
		{Projection: "balances", Stream: "acc-3", Letters: 1, Failed: 1, FirstVersion: 1, LastVersion: 1, FirstReason: "negative amount"},
	}
	if len(got) != len(want) {
		t.Fatalf("dlq list: %+v\n%s", got, res)
	}
	for i := range want {
		g := got[i]
		if g.LastTime == "" || !strings.Contains(g.FirstReason, want[i].FirstReason) {
			t.Errorf("stream %d: %+v", i, g)
		}
		g.LastTime, g.FirstReason = "", want[i].FirstReason
		if g != want[i] {
			t.Errorf("stream %d: got %+v, want %+v", i, g, want[i])
		}
	}

	res = kafkaesCtx(ctx, t, "dlq", "show", "acc-1", brokers(c), "--topic", topic)
	if res.code != exitOK {
		t.Fatalf("dlq show:\n%s", res)
	}
	var letters []letterLine
	for _, l := range lines(res.stdout) {
		var ll letterLine
		if err := json.Unmarshal([]byte(l), &ll); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		letters = append(letters, ll)
	}
	if len(letters) != 2 || letters[0].Version != 2 || letters[1].Version != 3 {
		t.Fatalf("dlq show acc-1: %+v", letters)
	}
	first, second := letters[0], letters[1]
	if first.Parked || !strings.Contains(first.Reason, "negative amount") || first.Projection != "balances" ||
		first.OriginTopic != topic || first.OriginPartition == nil || first.OriginOffset == nil || string(first.Data) != `{"n":-2}` || first.ID != "a2" {
		t.Errorf("failed letter: %+v", first)
	}
	if !second.Parked || second.ID != "a3" {
		t.Errorf("parked letter: %+v", second)
	}

	if res := kafkaesCtx(ctx, t, "dlq", "show", "acc-2", brokers(c), "--topic", topic); res.code != exitViolation || !strings.Contains(res.stderr, "no dead letters") {
		t.Errorf("dlq show of a stream without letters:\n%s", res)
	}
	if res := kafkaesCtx(ctx, t, "dlq", "list", "--projection", "other", brokers(c), "--topic", topic); res.code != exitOK || res.stdout != "" {
		t.Errorf("dlq list of another projection:\n%s", res)
	}
	if res := kafkaesCtx(ctx, t, "dlq", "list", brokers(c), "--topic", kafkatest.TopicName(t, "none")); res.code != exitFailure || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("dlq list without a dead-letter topic:\n%s", res)
	}
	if res := kafkaesCtx(ctx, t, "dlq", "drop", brokers(c), "--topic", topic); res.code != exitUsage {
		t.Errorf("dlq drop without a stream:\n%s", res)
	}
	if res := kafkaesCtx(ctx, t, "dlq", "retry", "acc-1", "--projection", "balances", "--by", "ops", brokers(c), "--topic", kafkatest.TopicName(t, "none")); res.code != exitFailure || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("dlq retry without a dead-letter topic:\n%s", res)
	}
	if res := kafkaesCtx(ctx, t, "dlq", "retry", "acc-1", brokers(c), "--topic", topic); res.code != exitUsage || !strings.Contains(res.stderr, "--projection") {
		t.Errorf("dlq retry without --projection:\n%s", res)
	}

	// Release: retry acc-1 (its handler is fixed now), drop acc-3. A
	// runner acts on the releases when it starts the partitions.
	fixed.Store(true)
	if res := kafkaesCtx(ctx, t, "dlq", "retry", "acc-1", "--projection", "balances", "--by", "ops", brokers(c), "--topic", topic); res.code != exitOK {
		t.Fatalf("dlq retry:\n%s", res)
	}
	if res := kafkaesCtx(ctx, t, "dlq", "drop", "acc-3", "--projection", "balances", "--by", "ops", brokers(c), "--topic", topic); res.code != exitOK {
		t.Fatalf("dlq drop:\n%s", res)
	}
	res = kafkaesCtx(ctx, t, "dlq", "list", brokers(c), "--topic", topic)
	if !strings.Contains(res.stdout, `"release":"retry by ops"`) || !strings.Contains(res.stdout, `"release":"drop by ops"`) {
		t.Errorf("dlq list before the runner acted:\n%s", res)
	}
	mu.Lock()
	handled = nil
	mu.Unlock()
	rd2, err := kafkaprojection.NewReader(ctx, c.Client(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	defer rd2.Close()
	if err := r.CatchUp(ctx, rd2, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"acc-1/2", "acc-1/3"} {
		if !slices.Contains(handled, want) {
			t.Errorf("retried letter %s not handled: %v", want, handled)
		}
	}
	// (This runner has no checkpoint store, so its catch-up replays the
	// whole topic, acc-3/1 included; that drop means "never handled" is
	// checked in projection/kafkaprojection's TestReleaseThroughDLQ.)
	res = kafkaesCtx(ctx, t, "dlq", "list", brokers(c), "--topic", topic)
	if res.code != exitOK || res.stdout != "" || !strings.Contains(res.stderr, "0 parked streams") {
		t.Errorf("dlq list after the releases:\n%s", res)
	}
	parked, err := dlq.Parked(ctx, "balances")
	if err != nil || len(parked) != 0 {
		t.Errorf("parked after the releases: %v, %v", parked, err)
	}
}
