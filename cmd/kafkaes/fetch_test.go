package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestReaderManyRounds reads a partition in many small fetches (one batch
// each) where committed, aborted and plain records and transaction markers
// alternate, and checks that the scan returns every committed record once,
// in order, and ends at the last stable offset.
func TestReaderManyRounds(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	var want []string
	mk := func(v string) testRecord { return testRecord{key: []byte("k"), value: []byte(v), partition: 0} }
	for i := range 30 {
		v := fmt.Sprint("plain-", i)
		p.send(topic, 1, mk(v))
		want = append(want, v)
		switch i % 3 {
		case 0:
			tx.txn(false, topic, 1, mk("aborted"), mk("aborted"))
		case 1:
			a, b := fmt.Sprint("txn-", i, "a"), fmt.Sprint("txn-", i, "b")
			tx.txn(true, topic, 1, mk(a), mk(b))
			want = append(want, a, b)
		}
	}
	tx.txn(false, topic, 1, mk("aborted-last"))

	cl := c.Client(t)
	rd := newReader(cl, topic)
	rd.maxBytes = 1 // the broker still returns the first batch of every fetch
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start, err := rd.offsets(ctx, []int32{0}, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	// The last abort's marker is written after AbortTxn returned (on a
	// replicated cluster it reaches the high watermark a moment later):
	// wait until the last stable offset and the high watermark agree.
	var end map[int32]int64
	var hw int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		if end, err = rd.offsets(ctx, []int32{0}, sarama.OffsetNewest); err != nil {
			t.Fatal(err)
		}
		if hw, err = cl.GetOffset(topic, 0, sarama.OffsetNewest); err != nil {
			t.Fatal(err)
		}
		if end[0] == hw {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last stable offset %d != high watermark %d 10s after the last transaction ended", end[0], hw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []string
	lastOffset := int64(-1)
	rounds := 0
	err = rd.scan(ctx, start, end, func(r rec) error {
		if r.offset <= lastOffset {
			t.Errorf("offset %d after %d", r.offset, lastOffset)
		}
		lastOffset = r.offset
		got = append(got, string(r.value))
		return nil
	}, func(map[int32]int64) { rounds++ })
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read\n%q\nwant\n%q", got, want)
	}
	if rounds < 20 {
		t.Errorf("only %d fetch rounds: the test meant to read one batch per fetch", rounds)
	}
}

// TestReaderStopsAtOpenTransaction checks that a read up to the last stable
// offset ends while another producer's transaction is still open (its
// records lie beyond the LSO) instead of waiting for it.
func TestReaderStopsAtOpenTransaction(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, "")
	p.send(topic, 1, streamEvents("acc-1", 2)...)
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	if err := tx.p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	tx.send(topic, 1, event("acc-1", 3, "open", `{}`))
	defer func() { _ = tx.p.AbortTxn() }()
	p.send(topic, 1, streamEvents("acc-2", 1)...) // after the open transaction's record

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := kafkaesCtx(ctx, t, "verify", brokers(c), "--topic", topic)
	if r.code != exitOK || !strings.Contains(r.stdout, "2 events of 1 stream") {
		t.Fatalf("verify with an open transaction: want the 2 events before it\n%s", r)
	}
}

func TestProgressLines(t *testing.T) {
	var errOut bytes.Buffer
	e := &env{stderr: &errOut}
	p := newProgress(e, "verify t", map[int32]int64{0: 0, 1: 10}, map[int32]int64{0: 100, 1: 110})
	p.interval = 0
	p.update(map[int32]int64{0: 50, 1: 60})
	p.update(map[int32]int64{1: 110}) // partition 0 is done
	p.finish()                        // nothing new to say
	out := lines(errOut.String())
	if len(out) != 2 || !strings.HasPrefix(out[0], "verify t: 100/200 offsets (50.0%)") || !strings.Contains(out[0], "left") ||
		!strings.HasPrefix(out[1], "verify t: 200/200 offsets (100.0%)") {
		t.Errorf("progress lines:\n%s", errOut.String())
	}
	// finish prints the final state when the last line was older.
	errOut.Reset()
	p.interval = time.Hour
	p.update(map[int32]int64{0: 100, 1: 110})
	p.finish()
	if out := lines(errOut.String()); len(out) != 0 {
		t.Errorf("no new state, but finish printed %q", out)
	}
	p2 := newProgress(e, "v", map[int32]int64{0: 0}, map[int32]int64{0: 10})
	p2.interval = 0
	p2.update(map[int32]int64{0: 5})
	p2.interval = time.Hour
	p2.update(map[int32]int64{})
	errOut.Reset()
	p2.finish()
	if out := lines(errOut.String()); len(out) != 1 || !strings.HasPrefix(out[0], "v: 10/10 offsets (100.0%)") {
		t.Errorf("finish after a newer update printed %q", out)
	}
	errOut.Reset()
	e.quiet = true
	p.update(map[int32]int64{})
	if errOut.Len() != 0 {
		t.Errorf("--quiet printed %q", errOut.String())
	}
}
