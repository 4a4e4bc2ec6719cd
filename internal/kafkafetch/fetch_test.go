package kafkafetch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
)

// txnEnd says how write ends the records it sends.
type txnEnd int

const (
	noTxn  txnEnd = iota // plain records, no transaction
	commit               // in a transaction that is committed
	abort                // in a transaction that is aborted
)

// newProducer returns a sync producer that writes to the partition each
// message names; transactional when txnID is not empty.
func newProducer(t *testing.T, c *kafkatest.Cluster, txnID string) sarama.SyncProducer {
	t.Helper()
	cfg := c.Config()
	if txnID != "" {
		cfg = c.TransactionalConfig(txnID)
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// write sends values (key "k", a header "h" with the value) to the
// partition in one batch, and returns their offsets.
func write(t *testing.T, p sarama.SyncProducer, end txnEnd, topic string, part int32, values ...string) []int64 {
	t.Helper()
	if end != noTxn {
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("begin: %v", err)
		}
	}
	msgs := make([]*sarama.ProducerMessage, len(values))
	for i, v := range values {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: part, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(v),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(v)}}}
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("send: %v", err)
	}
	offs := make([]int64, len(msgs))
	for i, m := range msgs {
		offs[i] = m.Offset
	}
	var err error
	switch end {
	case commit:
		err = p.CommitTxn()
	case abort:
		err = p.AbortTxn()
	}
	if err != nil {
		t.Fatalf("end transaction: %v", err)
	}
	return offs
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// readAll fetches partition 0 of topic from offset 0 until Next reaches
// end, with at most one batch per fetch when small is set, and returns the
// records and the number of fetches.
func readAll(t *testing.T, cl sarama.Client, topic string, end int64, opts kafkafetch.Options) ([]kafkafetch.Record, int) {
	t.Helper()
	var recs []kafkafetch.Record
	next, rounds := int64(0), 0
	for next < end {
		res, err := kafkafetch.Fetch(ctxT(t), cl, topic, map[int32]int64{0: next}, opts)
		if err != nil {
			t.Fatalf("fetch at %d: %v", next, err)
		}
		pr := res[0]
		if pr == nil || pr.Err != nil {
			t.Fatalf("fetch at %d: partition result %+v", next, pr)
		}
		if pr.Next <= next {
			t.Fatalf("no progress at offset %d (end %d)", next, end)
		}
		for _, r := range pr.Records {
			if r.Offset < next {
				t.Fatalf("record at offset %d before the fetch offset %d", r.Offset, next)
			}
		}
		recs = append(recs, pr.Records...)
		next = pr.Next
		rounds++
	}
	if next != end {
		t.Fatalf("read ended at %d, want exactly %d", next, end)
	}
	return recs, rounds
}

func values(recs []kafkafetch.Record) []string {
	var out []string
	for _, r := range recs {
		switch {
		case r.Control && r.Abort:
			out = append(out, "<abort>")
		case r.Control:
			out = append(out, "<commit>")
		default:
			out = append(out, string(r.Value))
		}
	}
	return out
}

// settle waits until partition 0 of topic has no open transaction: Kafka
// writes the markers after EndTxn returned, so a record sent right after a
// commit could otherwise come before the commit marker. The last stable
// offset reaches the high watermark once the marker is written.
func settle(t *testing.T, cl sarama.Client, topic string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		lso, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadCommitted)
		if err != nil {
			t.Fatal(err)
		}
		hw, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadUncommitted)
		if err != nil {
			t.Fatal(err)
		}
		if lso[0] == hw[0] {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the transaction marker was not written: last stable offset %d, high watermark %d", lso[0], hw[0])
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestTransactions writes plain, committed and aborted records and checks
// what read_committed and read_uncommitted fetches return, one batch per
// fetch and all at once: aborted records and markers are dropped by
// read_committed, markers come back only with Markers, and every read ends
// exactly at the last stable offset although markers take the last
// offsets.
func TestTransactions(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	plain := newProducer(t, c, "")
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	cl := c.Client(t)
	var committed, all, withMarkers, committedMarkers []string
	for i := range 6 {
		v := fmt.Sprint("plain-", i)
		write(t, plain, noTxn, topic, 0, v)
		committed, all, withMarkers, committedMarkers = append(committed, v), append(all, v), append(withMarkers, v), append(committedMarkers, v)
		a, b := fmt.Sprint("txn-", i, "a"), fmt.Sprint("txn-", i, "b")
		end := abort
		if i%2 == 0 {
			end = commit
		}
		write(t, tx, end, topic, 0, a, b)
		settle(t, cl, topic)
		all = append(all, a, b)
		if end == commit {
			committed = append(committed, a, b)
			withMarkers = append(withMarkers, a, b, "<commit>")
			committedMarkers = append(committedMarkers, a, b, "<commit>")
		} else {
			withMarkers = append(withMarkers, a, b, "<abort>")
			committedMarkers = append(committedMarkers, "<abort>")
		}
	}
	ctx := ctxT(t)
	lso, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadCommitted)
	if err != nil {
		t.Fatal(err)
	}
	hw, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadUncommitted)
	if err != nil {
		t.Fatal(err)
	}
	// 6 plain + 12 transactional records + 6 markers.
	if lso[0] != 24 || hw[0] != 24 {
		t.Fatalf("last stable offset %d, high watermark %d; want 24 for both", lso[0], hw[0])
	}
	cases := []struct {
		name string
		opts kafkafetch.Options
		want []string
	}{
		{"read_committed", kafkafetch.Options{Isolation: sarama.ReadCommitted}, committed},
		{"read_committed+markers", kafkafetch.Options{Isolation: sarama.ReadCommitted, Markers: true}, committedMarkers},
		{"read_uncommitted", kafkafetch.Options{}, all},
		{"read_uncommitted+markers", kafkafetch.Options{Markers: true}, withMarkers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			small := tc.opts
			small.MaxBytesPerPartition = 1 // the broker still returns the first batch of every fetch
			recs, rounds := readAll(t, cl, topic, lso[0], small)
			if fmt.Sprint(values(recs)) != fmt.Sprint(tc.want) {
				t.Errorf("one batch per fetch: read\n%q\nwant\n%q", values(recs), tc.want)
			}
			if rounds < 12 {
				t.Errorf("%d fetches: the test meant to read one batch per fetch", rounds)
			}
			recs, _ = readAll(t, cl, topic, lso[0], tc.opts)
			if fmt.Sprint(values(recs)) != fmt.Sprint(tc.want) {
				t.Errorf("one fetch: read\n%q\nwant\n%q", values(recs), tc.want)
			}
			for _, r := range recs {
				isTxn := strings.HasPrefix(string(r.Value), "txn-")
				if !r.Control && (r.Transactional != isTxn || isTxn && r.ProducerID < 0) {
					t.Errorf("record %q: transactional %v, producer %d", r.Value, r.Transactional, r.ProducerID)
				}
				if !r.Control && (string(r.Key) != "k" || len(r.Headers) != 1 || string(r.Headers[0].Value) != string(r.Value) || r.Timestamp.IsZero()) {
					t.Errorf("record %q: key %q, headers %v, time %v", r.Value, r.Key, r.Headers, r.Timestamp)
				}
				if r.Control && (r.Key != nil || r.Value != nil || r.ProducerID < 0) {
					t.Errorf("marker at %d: key %q, value %q, producer %d", r.Offset, r.Key, r.Value, r.ProducerID)
				}
			}
		})
	}
}

// TestOpenTransaction checks that read_committed stops at the last stable
// offset while a transaction is open, and read_uncommitted does not.
func TestOpenTransaction(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	plain := newProducer(t, c, "")
	tx := newProducer(t, c, kafkatest.TopicName(t, "txn"))
	write(t, plain, noTxn, topic, 0, "before")
	if err := tx.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.AbortTxn() }()
	write(t, tx, noTxn, topic, 0, "open") // inside the open transaction
	write(t, plain, noTxn, topic, 0, "after")
	cl := c.Client(t)
	ctx := ctxT(t)
	res, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{Isolation: sarama.ReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	pr := res[0]
	if pr.Err != nil || pr.LastStableOffset != 1 || pr.HighWaterMark != 3 || fmt.Sprint(values(pr.Records)) != "[before]" || pr.Next != 1 {
		t.Fatalf("read_committed with an open transaction: %+v, values %q", pr, values(pr.Records))
	}
	lso, err := kafkafetch.ListOffsets(ctx, cl, topic, []int32{0}, sarama.OffsetNewest, sarama.ReadCommitted)
	if err != nil || lso[0] != 1 {
		t.Fatalf("listed last stable offset %v, %v; want 1", lso, err)
	}
	res, err = kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr := res[0]; fmt.Sprint(values(pr.Records)) != "[before open after]" || pr.Next != 3 {
		t.Fatalf("read_uncommitted with an open transaction: %+v, values %q", pr, values(pr.Records))
	}
}

// TestFetchMidBatch fetches from an offset inside a batch: the records
// before it are not returned, and Next is past the batch.
func TestFetchMidBatch(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	offs := write(t, newProducer(t, c, ""), noTxn, topic, 0, "a", "b", "c", "d")
	if offs[3] != 3 {
		t.Fatalf("offsets %v", offs)
	}
	res, err := kafkafetch.Fetch(ctxT(t), c.Client(t), topic, map[int32]int64{0: 2}, kafkafetch.Options{Isolation: sarama.ReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	if pr := res[0]; fmt.Sprint(values(pr.Records)) != "[c d]" || pr.Records[0].Offset != 2 || pr.Next != 4 || pr.LogStartOffset != 0 {
		t.Fatalf("fetch from 2: %+v, values %q", pr, values(pr.Records))
	}
	// At the end of the log: nothing, Next stays.
	res, err = kafkafetch.Fetch(ctxT(t), c.Client(t), topic, map[int32]int64{0: 4}, kafkafetch.Options{MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if pr := res[0]; len(pr.Records) != 0 || pr.Next != 4 || pr.HighWaterMark != 4 {
		t.Fatalf("fetch at the end: %+v", pr)
	}
}

// newMultiBrokerCluster starts a kfake cluster of three brokers on
// 127.0.0.1 (the shared test cluster has one) and creates a topic with six
// partitions led by brokers 0, 1, 2, 0, 1, 2.
func newMultiBrokerCluster(t *testing.T) (*kafkatest.Cluster, *kfake.Cluster, string) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(3),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	c := &kafkatest.Cluster{Brokers: fake.ListenAddrs(), Embedded: true}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 6, kafkatest.EventsTopicConfig())
	for p := range int32(6) {
		if err := fake.MoveTopicPartition(topic, p, p%3); err != nil {
			t.Fatalf("move %s/%d to broker %d: %v", topic, p, p%3, err)
		}
	}
	return c, fake, topic
}

// TestMultipleLeaders reads six partitions led by three brokers in one
// call: one request per leader, every partition's records.
func TestMultipleLeaders(t *testing.T) {
	c, _, topic := newMultiBrokerCluster(t)
	prod := newProducer(t, c, "")
	offsets := map[int32]int64{}
	for p := range int32(6) {
		write(t, prod, noTxn, topic, p, fmt.Sprint("p", p, "-a"), fmt.Sprint("p", p, "-b"))
		offsets[p] = 0
	}
	cl := c.Client(t)
	if err := cl.RefreshMetadata(topic); err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]bool{}
	for p := range int32(6) {
		b, err := cl.Leader(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		leaders[b.ID()] = true
	}
	if len(leaders) != 3 {
		t.Fatalf("partitions led by %v, want three brokers", leaders)
	}
	var (
		mu        sync.Mutex
		responses []int
	)
	res, err := kafkafetch.Fetch(ctxT(t), cl, topic, offsets, kafkafetch.Options{Isolation: sarama.ReadCommitted,
		OnResponse: func(n int) { mu.Lock(); responses = append(responses, n); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(6) {
		pr := res[p]
		if want := fmt.Sprintf("[p%d-a p%d-b]", p, p); pr == nil || pr.Err != nil || fmt.Sprint(values(pr.Records)) != want || pr.Next != 2 {
			t.Errorf("partition %d: %+v, want %s", p, pr, want)
		}
	}
	if fmt.Sprint(responses) != "[4 4 4]" {
		t.Errorf("OnResponse calls %v, want one per leader with 4 records each", responses)
	}
	// ListOffsets asks every leader too.
	offs, err := kafkafetch.ListOffsets(ctxT(t), cl, topic, []int32{0, 1, 2, 3, 4, 5}, sarama.OffsetNewest, sarama.ReadCommitted)
	if err != nil || fmt.Sprint(offs) != "map[0:2 1:2 2:2 3:2 4:2 5:2]" {
		t.Fatalf("end offsets %v, %v", offs, err)
	}
}

// TestLeaderMoved checks that a partition whose leader moved reports a
// retriable partition error (the other partitions are still read), and
// that the next fetch reads it from the new leader after the metadata
// refresh Fetch made.
func TestLeaderMoved(t *testing.T) {
	c, fake, topic := newMultiBrokerCluster(t)
	prod := newProducer(t, c, "")
	write(t, prod, noTxn, topic, 0, "p0")
	write(t, prod, noTxn, topic, 3, "p3")
	cl := c.Client(t)
	if err := cl.RefreshMetadata(topic); err != nil {
		t.Fatal(err)
	}
	if err := fake.MoveTopicPartition(topic, 0, 1); err != nil {
		t.Fatal(err)
	}
	offsets := map[int32]int64{0: 0, 3: 0}
	res, err := kafkafetch.Fetch(ctxT(t), cl, topic, offsets, kafkafetch.Options{Isolation: sarama.ReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	var pe *kafkafetch.PartitionError
	if pr := res[0]; pr == nil || !errors.As(pr.Err, &pe) || pe.Partition != 0 || pe.Offset != 0 || !kafkafetch.Retriable(pr.Err) || len(pr.Records) != 0 || pr.Next != 0 {
		t.Fatalf("moved partition: %+v, want a retriable partition error", pr)
	}
	if !strings.Contains(res[0].Err.Error(), fmt.Sprintf("fetch %s/0 at offset 0: ", topic)) {
		t.Errorf("partition error %q does not say what was fetched", res[0].Err)
	}
	if pr := res[3]; pr == nil || pr.Err != nil || fmt.Sprint(values(pr.Records)) != "[p3]" {
		t.Fatalf("partition 3 next to the moved one: %+v", pr)
	}
	res, err = kafkafetch.Fetch(ctxT(t), cl, topic, offsets, kafkafetch.Options{Isolation: sarama.ReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	if pr := res[0]; pr.Err != nil || fmt.Sprint(values(pr.Records)) != "[p0]" {
		t.Fatalf("after the move: %+v", pr)
	}
}

// TestErrors checks the errors of the whole call and of a partition.
func TestErrors(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	prod := newProducer(t, c, "")
	write(t, prod, noTxn, topic, 0, "a", "b")
	// Kafka may answer NOT_LEADER for a partition of a new topic for a
	// moment; the producer retries until its partition is served.
	write(t, prod, noTxn, topic, 1, "c")
	cl := c.Client(t)
	ctx := ctxT(t)

	t.Run("offset out of range", func(t *testing.T) {
		res, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 10, 1: 0}, kafkafetch.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pr := res[0]
		var pe *kafkafetch.PartitionError
		if !errors.Is(pr.Err, sarama.ErrOffsetOutOfRange) || !errors.As(pr.Err, &pe) || pe.Topic != topic || pe.Offset != 10 || kafkafetch.Retriable(pr.Err) {
			t.Fatalf("fetch past the end: %+v", pr)
		}
		wantHW := int64(-1) // Kafka sends no offsets with a partition error
		if c.Embedded {
			wantHW = 2 // kfake does
		}
		if pr.Next != 10 || pr.HighWaterMark != wantHW || len(pr.Records) != 0 {
			t.Errorf("partition with an error: %+v", pr)
		}
		if pr := res[1]; pr.Err != nil || pr.Next != 1 || pr.HighWaterMark != 1 || fmt.Sprint(values(pr.Records)) != "[c]" {
			t.Errorf("the other partition: %+v", pr)
		}
	})
	t.Run("unknown topic", func(t *testing.T) {
		_, err := kafkafetch.Fetch(ctx, cl, topic+"-missing", map[int32]int64{0: 0}, kafkafetch.Options{})
		if err == nil || !strings.Contains(err.Error(), "find the leader of "+topic+"-missing/0") {
			t.Fatalf("unknown topic: %v", err)
		}
		_, err = kafkafetch.ListOffsets(ctx, cl, topic+"-missing", []int32{0}, sarama.OffsetOldest, sarama.ReadCommitted)
		if err == nil || !strings.Contains(err.Error(), "find the leader of "+topic+"-missing/0") {
			t.Fatalf("list offsets of an unknown topic: %v", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := kafkafetch.Fetch(cctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("fetch with a canceled context: %v", err)
		}
		if _, err := kafkafetch.ListOffsets(cctx, cl, topic, []int32{0}, sarama.OffsetOldest, sarama.ReadCommitted); !errors.Is(err, context.Canceled) {
			t.Fatalf("list offsets with a canceled context: %v", err)
		}
	})
	if !c.Embedded {
		return // the faults below are injected into the embedded broker
	}
	t.Run("broker error code", func(t *testing.T) {
		c.Fake().ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			resp.Version = req.GetVersion()
			resp.ErrorCode = int16(sarama.ErrFetchSessionIDNotFound)
			return resp, nil, true
		})
		_, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{})
		if !errors.Is(err, sarama.ErrFetchSessionIDNotFound) || !strings.Contains(err.Error(), "fetch "+topic+" from broker ") {
			t.Fatalf("response with an error code: %v", err)
		}
	})
	t.Run("missing partition", func(t *testing.T) {
		c.Fake().ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.FetchResponse)
			resp.Version = req.GetVersion()
			return resp, nil, true // no topics at all
		})
		_, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("fetch %s/0 from broker ", topic)) || !strings.Contains(err.Error(), "no data for the partition") {
			t.Fatalf("response without the partition: %v", err)
		}
	})
	t.Run("connection dropped", func(t *testing.T) {
		c.Fake().ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
			return nil, errors.New("injected"), true // closes the connection
		})
		_, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{})
		if err == nil || !strings.Contains(err.Error(), "fetch "+topic+" from broker ") {
			t.Fatalf("dropped connection: %v", err)
		}
		// The broker connection was closed, so the next fetch reconnects.
		res, err := kafkafetch.Fetch(ctx, cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{})
		if err != nil || fmt.Sprint(values(res[0].Records)) != "[a b]" {
			t.Fatalf("fetch after a dropped connection: %v, %+v", err, res)
		}
	})
}

// TestFetchLeaderOnly: fetches are sent at a version a follower refuses
// (up to 10; from 11 on a follower serves a consumer fetch from its own,
// lagging log), and each partition carries the leader epoch the client's
// metadata knows (KIP-320), so a broker that still thinks it leads with an
// older epoch refuses it instead of serving stale data.
func TestFetchLeaderOnly(t *testing.T) {
	c, fake, topic := newMultiBrokerCluster(t)
	prod := newProducer(t, c, "")
	write(t, prod, noTxn, topic, 0, "p0")
	cl := c.Client(t)
	if err := fake.MoveTopicPartition(topic, 0, 1); err != nil { // a new leader epoch
		t.Fatal(err)
	}
	if err := cl.RefreshMetadata(topic); err != nil {
		t.Fatal(err)
	}
	_, epoch, err := cl.LeaderAndEpoch(topic, 0)
	if err != nil || epoch < 1 {
		t.Fatalf("leader epoch of %s/0 in the metadata: %d, %v; want one after a move", topic, epoch, err)
	}
	var (
		mu   sync.Mutex
		seen []string
	)
	fake.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		fake.KeepControl()
		fr := req.(*kmsg.FetchRequest)
		mu.Lock()
		defer mu.Unlock()
		for _, rt := range fr.Topics {
			for _, rp := range rt.Partitions {
				seen = append(seen, fmt.Sprintf("v%d p%d epoch %d", fr.Version, rp.Partition, rp.CurrentLeaderEpoch))
			}
		}
		return nil, nil, false
	})
	res, err := kafkafetch.Fetch(ctxT(t), cl, topic, map[int32]int64{0: 0}, kafkafetch.Options{Isolation: sarama.ReadCommitted})
	if err != nil || res[0].Err != nil || fmt.Sprint(values(res[0].Records)) != "[p0]" {
		t.Fatalf("fetch: %+v, %v", res[0], err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := fmt.Sprintf("[v%d p0 epoch %d]", kafkafetch.FetchVersion, epoch); fmt.Sprint(seen) != want || kafkafetch.FetchVersion > 10 {
		t.Fatalf("fetch requests %v, want %s (a version up to 10)", seen, want)
	}
}
