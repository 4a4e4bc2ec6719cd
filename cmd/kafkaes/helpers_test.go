package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// result is what a kafkaes run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// noEnv is an empty environment, so tests do not depend on the KAFKAES_*
// variables of the machine.
func noEnv(string) string { return "" }

// kafkaes runs the command line with an empty environment.
func kafkaes(t *testing.T, args ...string) result {
	t.Helper()
	return kafkaesCtx(context.Background(), t, args...)
}

func kafkaesCtx(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runEnv(ctx, args, &out, &errOut, noEnv)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a safety net against hangs, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testRecord is a record to produce: key, value and headers, on the
// partition of the key (wire.Partition) unless partition is set.
type testRecord struct {
	key, value []byte
	headers    []sarama.RecordHeader
	partition  int32 // -1: by key
}

var testTime = time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)

// event returns a valid kafkaes event record.
func event(stream string, version int64, id string, data string) testRecord {
	key, hs := wire.Encode(stream, version, eventstore.Event{ID: id, Type: "test.Happened", Data: []byte(data),
		Metadata: eventstore.Metadata{CorrelationID: "corr-" + id, Values: map[string]string{"user": "ada"}}}, testTime)
	return testRecord{key: key, value: []byte(data), headers: hs, partition: -1}
}

// streamEvents returns versions 1..n of a stream with IDs stream-v.
func streamEvents(stream string, n int) []testRecord {
	var out []testRecord
	for v := 1; v <= n; v++ {
		out = append(out, event(stream, int64(v), fmt.Sprintf("%s-%d", stream, v), fmt.Sprintf(`{"n":%d}`, v)))
	}
	return out
}

// producer writes records; transactional when txnID is not empty.
type producer struct {
	t *testing.T
	p sarama.SyncProducer
}

func newProducer(t *testing.T, c *kafkatest.Cluster, txnID string) *producer {
	t.Helper()
	cfg := c.Config()
	if txnID != "" {
		cfg = c.TransactionalConfig(txnID)
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &producer{t: t, p: p}
}

// send writes records to topic, one at a time so that their offsets follow
// the order given, and returns their offsets.
func (p *producer) send(topic string, nparts int32, recs ...testRecord) []int64 {
	p.t.Helper()
	var offs []int64
	for _, r := range recs {
		part := r.partition
		if part < 0 {
			part = wire.Partition(r.key, nparts)
		}
		msg := &sarama.ProducerMessage{Topic: topic, Partition: part, Headers: r.headers}
		if r.key != nil {
			msg.Key = sarama.ByteEncoder(r.key)
		}
		if r.value != nil {
			msg.Value = sarama.ByteEncoder(r.value)
		}
		_, off, err := p.p.SendMessage(msg)
		if err != nil {
			p.t.Fatalf("produce to %s/%d: %v", topic, part, err)
		}
		offs = append(offs, off)
	}
	return offs
}

func (p *producer) txn(commit bool, topic string, nparts int32, recs ...testRecord) {
	p.t.Helper()
	if err := p.p.BeginTxn(); err != nil {
		p.t.Fatalf("begin: %v", err)
	}
	p.send(topic, nparts, recs...)
	var err error
	if commit {
		err = p.p.CommitTxn()
	} else {
		err = p.p.AbortTxn()
	}
	if err != nil {
		p.t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// brokers returns the --brokers flag for the cluster.
func brokers(c *kafkatest.Cluster) string { return "--brokers=" + strings.Join(c.Brokers, ",") }
