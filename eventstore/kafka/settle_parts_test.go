package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestSettleEveryWrittenPartition reproduces the loss CI's broker-restart
// test once found (embedded broker only): an acknowledged commit whose
// markers Kafka never wrote to partition 1 (a restarted coordinator
// skipped them), then, after an error made the store suspect, a
// transaction that writes only partition 0 and fails. The settle check
// before it must cover partition 1 too, where the producer wrote before,
// and commit the acknowledged records there; checking only the
// partitions of the next transaction let the failed transaction's abort
// (whose marker also decides the earlier records of the same producer)
// drop the acknowledged events.
//
// The embedded broker cannot skip a marker, so the test answers the
// commit's EndTxn itself: the client is told "committed" while the
// broker keeps the transaction open, its records on partition 1 without
// markers, until the producer's next marker decides them, as on the
// restarted broker.
func TestSettleEveryWrittenPartition(t *testing.T) {
	c, topic, s, _, ctx := withheldSetup(t)
	a, b := streamOnPartition(s, 1, "settle-a"), streamOnPartition(s, 0, "settle-b")
	secondIDs := appendWithheld(ctx, t, c, s, a)

	// A broker went away (as far as the store can tell), and the next
	// transaction, writing partition 0 only, fails after its records
	// were sent: the connection of its Produce breaks once.
	kafka.MarkSuspect(s)
	broke := breakNextProduce(c, func(r *kmsg.ProduceRequest) bool {
		return len(r.Topics[0].Partitions) > 0 && r.Topics[0].Partitions[0].Partition == 0
	})
	third, _ := newEvents(1, "test")
	_, err := s.Append(ctx, b, eventstore.NoStream, third...)
	t.Logf("append to partition 0 after the broken produce: %v", err)
	require.True(t, broke.Load(), "the produce was not broken")

	// Whatever the append to b returned, the acknowledged events of a are
	// in the log.
	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	require.Equal(t, secondIDs, idsAt(log, a, 2), "the acknowledged append of version 2 is in the log")
}

// TestSettleWrittenPositionsPartition is TestSettleEveryWrittenPartition
// for a partition of another topic: a process manager's transaction that
// wrote only its position record (the repeat of a process manager's
// multi-stream append whose events were written: it commits the consumer
// offsets and the position again) is acknowledged without its markers; after the store became suspect, a failed transaction on the
// events topic must not take the position record down with it.
func TestSettleWrittenPositionsPartition(t *testing.T) {
	c, topic, s, trace, ctx := withheldSetup(t)
	positions := topic + ".positions"
	c.CreateTopic(t, positions, 1, nil)
	group := kafkatest.TopicName(t, "group")
	a, b := streamOnPartition(s, 1, "settle-a"), streamOnPartition(s, 0, "settle-b")
	o := kafka.ConsumerOffsets{Group: group, GenerationID: -1, Topic: topic, Offsets: map[int32]int64{0: 42}, PositionTopic: positions}
	first, _ := newEvents(1, "test")
	_, err := s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: a, Expected: eventstore.NoStream, Events: first})
	require.NoError(t, err)

	withheld := withholdNextCommit(c)
	_, err = s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: a, Expected: eventstore.NoStream, Events: first})
	require.NoError(t, err, "the repeat")
	require.True(t, withheld.Load(), "the commit was not intercepted")
	require.Equal(t, 1, trace.count("a repeat of a written append"), "the repeat committed the offsets again")

	kafka.MarkSuspect(s)
	broke := breakNextProduce(c, func(r *kmsg.ProduceRequest) bool { return r.Topics[0].Topic == topic })
	second, _ := newEvents(1, "test")
	_, err = s.Append(ctx, b, eventstore.NoStream, second...)
	t.Logf("append after the broken produce: %v", err)
	require.True(t, broke.Load(), "the produce was not broken")

	require.Equal(t, map[string][]int64{
		string(wire.PositionKey(group, topic, 0)): {42, 42},
	}, committedPositions(t, c, positions), "the position records of the append and of its acknowledged repeat")
}

// withheldSetup is the start of the tests that withhold a commit marker
// (embedded broker only; others skip): a cluster, an events topic of two
// partitions, a store on it with one traced worker (opts added), and a
// context for the test.
func withheldSetup(t *testing.T, opts ...kafka.Option) (*kafkatest.Cluster, string, *kafka.Store, *traceLog, context.Context) {
	t.Helper()
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("needs the embedded broker to withhold a commit marker")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	s, trace := openTracedSingleWorker(t, c, topic, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c, topic, s, trace, ctx
}

// openTracedSingleWorker opens a store on topic with one transactional
// producer (so that every append goes through the same worker) whose
// transaction trace is dumped if the test fails.
func openTracedSingleWorker(t *testing.T, c *kafkatest.Cluster, topic string, opts ...kafka.Option) (*kafka.Store, *traceLog) {
	t.Helper()
	trace := &traceLog{}
	t.Cleanup(func() {
		if t.Failed() {
			trace.dump(t)
		}
	})
	opts = append([]kafka.Option{kafka.WithConcurrentTransactions(1), kafka.WithTestTrace(trace.add(time.Now(), "store"))}, opts...)
	return openStressStore(t, c, topic, opts...), trace
}

// streamOnPartition returns a stream ID with prefix that s puts on
// partition p.
func streamOnPartition(s *kafka.Store, p int32, prefix string) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("%s-%d", prefix, i); s.Partition(id) == p {
			return id
		}
	}
}

// withholdNextCommit makes the embedded broker answer the next EndTxn
// that commits with success without acting on it: the transaction stays
// open, its records without markers, until the producer's next marker
// decides them. The flag reports that it happened.
func withholdNextCommit(c *kafkatest.Cluster) *atomic.Bool {
	var withhold, withheld atomic.Bool
	withhold.Store(true)
	c.Fake().ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit || !withhold.CompareAndSwap(true, false) {
			return nil, nil, false
		}
		withheld.Store(true)
		return r.ResponseKind(), nil, true
	})
	return &withheld
}

// breakNextProduce makes the embedded broker close the connection of the
// next transactional Produce request that match accepts (its records may
// or may not be written). The flag reports that it happened.
func breakNextProduce(c *kafkatest.Cluster, match func(*kmsg.ProduceRequest) bool) *atomic.Bool {
	var broke atomic.Bool
	breakRequests(c, kmsg.Produce, func(req kmsg.Request) bool {
		r := req.(*kmsg.ProduceRequest)
		return r.TransactionID != nil && len(r.Topics) > 0 && match(r) && broke.CompareAndSwap(false, true)
	})
	return &broke
}

// breakRequests makes the embedded broker close the connection of every
// request of key that breaks accepts, without acting on it, for the rest
// of the test. The counter reports how many it broke.
func breakRequests(c *kafkatest.Cluster, key kmsg.Key, breaks func(kmsg.Request) bool) *atomic.Int64 {
	var broke atomic.Int64
	c.Fake().ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if !breaks(req) {
			return nil, nil, false
		}
		broke.Add(1)
		return nil, fmt.Errorf("test: break the connection of a %s request", key.Name()), true
	})
	return &broke
}

// TestSettleIdleWorker: an acknowledged commit whose markers Kafka did not
// write (as a restarted coordinator may leave it; the test answers the
// EndTxn itself) holds its partition's last stable offset, so every
// read_committed reader of the partition waits. A store that noticed a
// broker error (suspect) and has no more appends to write settles it
// anyway, within about a second: a plain read_committed reader then sees
// the acknowledged events, long before the transaction timeout, without
// another append. Before, the records stayed undecided until the store's
// next append.
func TestSettleIdleWorker(t *testing.T) {
	c, topic, s, trace, ctx := withheldSetup(t)
	a := streamOnPartition(s, 1, "settle-idle")
	secondIDs := appendWithheld(ctx, t, c, s, a)
	kafka.MarkSuspect(s)

	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second) // the transaction timeout is 10s
	defer rcancel()
	log, err := logcheck.ReadCommitted(rctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err, "a read_committed reader still waits for the acknowledged records")
	require.Equal(t, secondIDs, idsAt(log, a, 2), "the acknowledged append of version 2 is in the log")
	// Traced before the settling transaction's EndTxn (the reader could
	// not have finished before it).
	require.Positive(t, trace.count("commit=true"), "the worker wrote the commit marker the records needed")
}

// appendWithheld appends version 1 of stream a, then version 2, whose
// commit is acknowledged but whose markers are not written
// (withholdNextCommit), and returns version 2's event IDs.
func appendWithheld(ctx context.Context, t *testing.T, c *kafkatest.Cluster, s *kafka.Store, a string) []string {
	t.Helper()
	first, _ := newEvents(1, "test")
	_, err := s.Append(ctx, a, eventstore.NoStream, first...)
	require.NoError(t, err)
	withheld := withholdNextCommit(c)
	second, secondIDs := newEvents(1, "test")
	_, err = s.Append(ctx, a, eventstore.Exact(1), second...)
	require.NoError(t, err)
	require.True(t, withheld.Load(), "the commit was not intercepted")
	return secondIDs
}

// idsAt returns the IDs of the events of stream at version v in log.
func idsAt(log []eventstore.RecordedEvent, stream string, v int64) []string {
	var ids []string
	for _, ev := range log {
		if ev.StreamID == stream && ev.Version == v {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

// TestSettleCommitEndTxnFails: the settle check found an acknowledged
// commit without its markers (a restarted coordinator skipped them; the
// test answers the commit's EndTxn itself) and ends an empty transaction
// over its partition with a commit, but that EndTxn is lost (its
// connection breaks). The settling transaction is then open at the
// coordinator with the partition added; re-initialising the producer
// (InitProducerId) makes the coordinator abort it, and that abort marker
// decides the acknowledged records too: they are lost. The worker must
// keep ending the settling transaction with a commit (EndTxn is
// idempotent for the same producer epoch) before anything re-initialises
// its producer, so the acknowledged events stay in the log whatever
// happens next.
func TestSettleCommitEndTxnFails(t *testing.T) {
	c, topic, s, trace, ctx := withheldSetup(t)
	a, b := streamOnPartition(s, 1, "settle-a"), streamOnPartition(s, 0, "settle-b")
	secondIDs := appendWithheld(ctx, t, c, s, a)

	kafka.MarkSuspect(s)
	broke := breakNextEndTxn(c)
	third, _ := newEvents(1, "test")
	_, err := s.Append(ctx, b, eventstore.NoStream, third...)
	t.Logf("append after the broken settle EndTxn: %v", err)
	require.True(t, broke.Load(), "no EndTxn was broken")
	// Whatever that append returned, more appends (and with them, if the
	// worker re-initialises its producer, an InitProducerId) follow.
	for range 3 {
		more, _ := newEvents(1, "test")
		_, err := s.Append(ctx, streamOnPartition(s, 0, "settle-more"+more[0].ID[:8]), eventstore.NoStream, more...)
		t.Logf("later append: %v", err)
	}

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	require.Equal(t, secondIDs, idsAt(log, a, 2), "the acknowledged append of version 2 is in the log")
	require.Positive(t, trace.count("commit=true"), "the worker settled with a commit")
}

// TestSettleCommitPendingAcrossInit is TestSettleCommitEndTxnFails with
// the coordinator unreachable for longer than the append timeout: every
// committing EndTxn breaks for a while, so the settling transaction's
// commit is still pending when the append gives up, and later appends
// (which would re-initialise the producer, aborting the settling
// transaction) fail too. Once the coordinator answers again, the pending
// commit must go first, and the acknowledged events stay in the log.
func TestSettleCommitPendingAcrossInit(t *testing.T) {
	c, topic, s, trace, ctx := withheldSetup(t, kafka.WithAppendTimeout(time.Second))
	a, b := streamOnPartition(s, 1, "settle-a"), streamOnPartition(s, 0, "settle-b")
	secondIDs := appendWithheld(ctx, t, c, s, a)

	kafka.MarkSuspect(s)
	var down atomic.Bool
	down.Store(true)
	broke := breakEndTxnWhile(c, &down)
	for i := range 3 {
		evs, _ := newEvents(1, "test")
		_, err := s.Append(ctx, b, eventstore.NoStream, evs...)
		t.Logf("append %d while every committing EndTxn breaks: %v", i, err)
		require.Error(t, err, "an append while the settling commit cannot be sent")
	}
	require.Positive(t, broke.Load(), "no EndTxn was broken")
	down.Store(false)
	evs, _ := newEvents(1, "test")
	_, err := s.Append(ctx, b, eventstore.NoStream, evs...)
	require.NoError(t, err, "an append once the coordinator answers again")

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	require.Equal(t, secondIDs, idsAt(log, a, 2), "the acknowledged append of version 2 is in the log")
	require.Greater(t, trace.count("commit the settling transaction"), 1, "the settling commit was sent again")
}

// breakNextEndTxn makes the embedded broker close the connection of the
// next EndTxn that commits, without acting on it. The flag reports that
// it happened.
func breakNextEndTxn(c *kafkatest.Cluster) *atomic.Bool {
	var broke atomic.Bool
	breakRequests(c, kmsg.EndTxn, func(req kmsg.Request) bool {
		return req.(*kmsg.EndTxnRequest).Commit && broke.CompareAndSwap(false, true)
	})
	return &broke
}

// breakEndTxnWhile makes the embedded broker close the connection of
// every EndTxn that commits while down is set, without acting on it. The
// counter reports how many it broke.
func breakEndTxnWhile(c *kafkatest.Cluster, down *atomic.Bool) *atomic.Int64 {
	return breakRequests(c, kmsg.EndTxn, func(req kmsg.Request) bool {
		return req.(*kmsg.EndTxnRequest).Commit && down.Load()
	})
}

// TestSettleOpenCheckFails: an acknowledged commit without its markers
// (the test answers its EndTxn itself) in partition 1; the next
// transaction's AddPartitionsToTxn for partition 1 meets a broken
// connection (a broker may have restarted, so the worker checks for
// records left without markers before it writes), and the check's
// fetches fail for longer than the append timeout. The transaction,
// open with partition 1 added and no records, must not be aborted
// (blindly, or by the InitProducerId of a new producer): its abort marker
// would drop the acknowledged records. It stays open until a check
// succeeds, which commits it.
func TestSettleOpenCheckFails(t *testing.T) {
	c, topic, s, trace, ctx := withheldSetup(t, kafka.WithAppendTimeout(time.Second))
	a, b := streamOnPartition(s, 1, "open-a"), streamOnPartition(s, 1, "open-b")
	secondIDs := appendWithheld(ctx, t, c, s, a)

	var addBroken, fetchDown atomic.Bool
	breakRequests(c, kmsg.AddPartitionsToTxn, func(kmsg.Request) bool {
		if !addBroken.CompareAndSwap(false, true) {
			return false
		}
		fetchDown.Store(true)
		return true
	})
	breakRequests(c, kmsg.Fetch, func(kmsg.Request) bool { return fetchDown.Load() })
	third, _ := newEvents(1, "test")
	_, err := s.Append(ctx, b, eventstore.NoStream, third...)
	t.Logf("append while the settle check cannot fetch: %v", err)
	require.True(t, addBroken.Load(), "no AddPartitionsToTxn was broken")
	require.Positive(t, trace.count("recheck: a coordinator request met a network error"), "the worker did not check before writing")
	fetchDown.Store(false)
	for range 2 {
		evs, _ := newEvents(1, "test")
		_, err := s.Append(ctx, streamOnPartition(s, 0, "open-more"+evs[0].ID[:8]), eventstore.NoStream, evs...)
		t.Logf("later append: %v", err)
	}

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	require.Equal(t, secondIDs, idsAt(log, a, 2), "the acknowledged append of version 2 is in the log")
}
