package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
)

// hangingRow returns the table row of topics hanging for partition p of
// topic, split into columns, or nil.
func hangingRow(out, topic string, p int32) []string {
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) == 9 && f[0] == topic && f[1] == strconv.Itoa(int(p)) {
			return f
		}
	}
	return nil
}

func TestTopicsHanging(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-hanging")
	const nparts = 3
	c.CreateTopic(t, topic, nparts, kafkatest.EventsTopicConfig())
	plain := newProducer(t, c, "")
	for p := range int32(nparts) {
		plain.send(topic, nparts, testRecord{key: []byte("k"), value: []byte("v"), partition: p})
	}

	// A topic without transactions.
	r := kafkaes(t, "topics", "hanging", brokers(c), "--topic", topic, "--older-than", "1ms")
	if r.code != exitOK || !strings.Contains(r.stdout, fmt.Sprintf("no hanging transactions in %d partitions of 1 topic", nparts)) ||
		strings.Contains(r.stdout, "younger") {
		t.Fatalf("topic without transactions: want exit 0 and no open transaction\n%s", r)
	}

	// A transactional producer that writes to partition 1 and neither
	// commits nor aborts while the command runs. Its timeout is long so
	// that a real broker does not abort it during the test.
	cfg := c.TransactionalConfig(kafkatest.TopicName(t, "txn-hanging"))
	cfg.Producer.Transaction.Timeout = 5 * time.Minute
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	tx, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	t.Cleanup(func() { _ = tx.Close() })
	if err := tx.BeginTxn(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	var start int64 = -1
	for i := range 3 {
		_, off, err := tx.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 1, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(strconv.Itoa(i))})
		if err != nil {
			t.Fatalf("produce in the transaction: %v", err)
		}
		if start < 0 {
			start = off
		}
	}
	ctx := context.Background()
	cl, err := sarama.NewClient(c.Brokers, c.Config())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer cl.Close()
	hw, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{1}, sarama.OffsetNewest, sarama.ReadUncommitted)
	if err != nil {
		t.Fatalf("high watermark: %v", err)
	}
	lso, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{1}, sarama.OffsetNewest, sarama.ReadCommitted)
	if err != nil {
		t.Fatalf("last stable offset: %v", err)
	}
	if lso[1] != start {
		t.Fatalf("the open transaction should hold the LSO at its start %d, LSO is %d", start, lso[1])
	}

	// Younger than the threshold (the default: the broker's
	// transaction.max.timeout.ms; and an explicit hour): not reported, but
	// counted.
	for _, args := range [][]string{{}, {"--older-than", "1h"}} {
		r = kafkaes(t, append([]string{"topics", "hanging", brokers(c), "--topic", topic}, args...)...)
		if r.code != exitOK || !strings.Contains(r.stdout, "no hanging transactions") || !strings.Contains(r.stdout, "1 younger open transaction") {
			t.Fatalf("%v: an open transaction younger than the threshold: want exit 0 and it counted as younger\n%s", args, r)
		}
	}
	if !strings.Contains(r.stdout, "1h0m0s, --older-than") {
		t.Errorf("the summary should name the threshold and where it came from\n%s", r)
	}
	r = kafkaes(t, "topics", "hanging", brokers(c), "--topic", topic)
	if !strings.Contains(r.stdout, "(open for more than 15m0s, the broker's transaction.max.timeout.ms)") {
		t.Errorf("the default threshold should be the broker's transaction.max.timeout.ms (Kafka's default 15m)\n%s", r)
	}

	// Older than a tiny threshold: reported, with the abort command.
	time.Sleep(5 * time.Millisecond) // the broker's timestamps have millisecond resolution
	r = kafkaes(t, "topics", "hanging", brokers(c), "--topic", topic, "--older-than", "1ms")
	if r.code != exitViolation {
		t.Fatalf("an open transaction older than --older-than: want exit %d\n%s", exitViolation, r)
	}
	t.Logf("topics hanging:\n%s", r.stdout)
	row := hangingRow(r.stdout, topic, 1)
	if row == nil {
		t.Fatalf("no row for partition 1\n%s", r)
	}
	if pid, err := strconv.ParseInt(row[2], 10, 64); err != nil || pid < 0 {
		t.Errorf("producer ID column %q is not a producer ID\n%s", row[2], r)
	}
	want := []string{strconv.FormatInt(start, 10), strconv.FormatInt(hw[1]-start, 10), strconv.FormatInt(start, 10), strconv.FormatInt(hw[1], 10)}
	if got := []string{row[4], row[6], row[7], row[8]}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("start offset, held back, LSO, HW = %v, want %v\n%s", got, want, r)
	}
	for _, p := range []int32{0, 2} {
		if hangingRow(r.stdout, topic, p) != nil {
			t.Errorf("partition %d has no transaction but is reported\n%s", p, r)
		}
	}
	fix := fmt.Sprintf("fix: kafka-transactions.sh --bootstrap-server %s abort --topic %s --partition 1 --start-offset %d",
		strings.Join(c.Brokers, ","), topic, start)
	if !strings.Contains(r.stdout, fix) {
		t.Errorf("want the abort command %q\n%s", fix, r)
	}
	if !strings.Contains(r.stdout, "1 hanging transaction (") {
		t.Errorf("want the summary line\n%s", r)
	}

	// Without --topic every topic is checked (other tests' topics may be
	// listed too on a shared cluster).
	r = kafkaes(t, "topics", "hanging", brokers(c), "--older-than", "1ms")
	if r.code != exitViolation || hangingRow(r.stdout, topic, 1) == nil {
		t.Errorf("all topics: want exit %d and the row of %s/1\n%s", exitViolation, topic, r)
	}

	// Committed: nothing open any more.
	if err := tx.CommitTxn(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	r = kafkaes(t, "topics", "hanging", brokers(c), "--topic", topic, "--older-than", "1ms")
	if r.code != exitOK || !strings.Contains(r.stdout, "no hanging transactions") || strings.Contains(r.stdout, "younger") {
		t.Fatalf("after the commit: want exit 0 and no open transaction\n%s", r)
	}
}

func TestTopicsHangingErrors(t *testing.T) {
	r := kafkaes(t, "topics", "hanging", "--brokers=127.0.0.1:1", "--older-than", "-1s")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--older-than -1s is negative") {
		t.Errorf("negative --older-than: want exit %d\n%s", exitUsage, r)
	}
	c := kafkatest.New(t)
	r = kafkaes(t, "topics", "hanging", brokers(c), "--topic", kafkatest.TopicName(t, "missing"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("missing topic: want exit %d\n%s", exitFailure, r)
	}
}

func TestOpenFromStates(t *testing.T) {
	states := map[int32][]sarama.ProducerState{
		0: {{ProducerID: 1, CurrentTxnStartOffset: -1, LastTimestamp: 1000}}, // idempotent or ended
		1: {
			{ProducerID: 3, ProducerEpoch: 2, CurrentTxnStartOffset: 20, LastTimestamp: -1},
			{ProducerID: 2, ProducerEpoch: 1, CurrentTxnStartOffset: 10, LastTimestamp: 5000},
		},
	}
	lso := map[int32]int64{0: 7, 1: 10}
	hw := map[int32]int64{0: 7, 1: 25}
	got := openFromStates("t", []int32{0, 1}, states, lso, hw)
	if len(got) != 2 {
		t.Fatalf("want the 2 open transactions of partition 1, got %+v", got)
	}
	if got[0].producerID != 2 || got[0].start != 10 || got[0].heldBack() != 15 || !got[0].lastWrite.Equal(time.UnixMilli(5000)) || got[0].lso != 10 || got[0].epoch != 1 {
		t.Errorf("first (by start offset): %+v", got[0])
	}
	if got[1].producerID != 3 || got[1].start != 20 || got[1].heldBack() != 5 || !got[1].lastWrite.IsZero() {
		t.Errorf("second, without a timestamp: %+v", got[1])
	}
}
