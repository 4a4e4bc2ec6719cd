package kafkaprojection_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// txnWriter writes raw records to partition 0 of a topic with a
// transactional producer, committing or aborting each transaction.
type txnWriter struct {
	t     *testing.T
	p     sarama.SyncProducer
	topic string
}

func newTxnWriter(t *testing.T, c *kafkatest.Cluster, topic string) *txnWriter {
	t.Helper()
	cfg := c.TransactionalConfig(kafkatest.TopicName(t, "txn"))
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.MaxMessageBytes = 2 << 20
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return &txnWriter{t: t, p: p, topic: topic}
}

// txn writes values in one transaction, ended by a commit or an abort,
// and returns their offsets; the transaction marker takes the offset
// after the last one.
func (w *txnWriter) txn(commit bool, values ...[]byte) []int64 {
	w.t.Helper()
	require.NoError(w.t, w.p.BeginTxn())
	offs := make([]int64, len(values))
	for i, v := range values {
		_, off, err := w.p.SendMessage(&sarama.ProducerMessage{Topic: w.topic, Partition: 0, Key: sarama.StringEncoder("k"), Value: sarama.ByteEncoder(v)})
		require.NoError(w.t, err)
		offs[i] = off
	}
	if commit {
		require.NoError(w.t, w.p.CommitTxn())
	} else {
		require.NoError(w.t, w.p.AbortTxn())
	}
	return offs
}

// span is a range of offsets [from, to) of partition 0 and whether
// HasEvents must find an event in it.
type span struct {
	from, to int64
	want     bool
}

func requireHasEvents(t *testing.T, ctx context.Context, gc projection.GapChecker, spans ...span) {
	t.Helper()
	for _, s := range spans {
		got, err := gc.HasEvents(ctx, 0, s.from, s.to)
		require.NoError(t, err, "HasEvents [%d, %d)", s.from, s.to)
		require.Equal(t, s.want, got, "HasEvents [%d, %d)", s.from, s.to)
	}
}

// HasEvents sees committed and non-transactional records, and nothing in
// ranges that hold only transaction markers and aborted records; End is
// the last stable offset, past the last marker.
func TestSourceHasEvents(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	w := newTxnWriter(t, c, topic)
	plain := newProducer(t, c, topic).raw("k", []byte("plain"))
	aborted := w.txn(false, []byte("a1"), []byte("a2"))
	committed := w.txn(true, []byte("c1"))
	aborted2 := w.txn(false, []byte("a3"))
	o0, o1, o4, o6 := plain.Offset, aborted[0], committed[0], aborted2[0]
	require.Equal(t, []int64{o0 + 1, o0 + 2}, aborted)
	require.Equal(t, o1+3, o4, "abort marker between")
	require.Equal(t, o4+2, o6, "commit marker between")

	src := newSource(t, c, topic, kafkatest.TopicName(t, "group"))
	ctx := timeout(t, 60*time.Second)
	end, err := src.End(ctx)
	require.NoError(t, err)
	require.Equal(t, o6+2, end[0], "End is after the last abort marker")
	requireHasEvents(t, ctx, src,
		span{o0, o0 + 1, true},      // the plain record
		span{o0, o0, false},         // empty range
		span{o1, o4, false},         // aborted records and their marker
		span{o1, o4 + 1, true},      // ... and the committed record
		span{o4, o4 + 1, true},      // the committed record alone
		span{o4 + 1, end[0], false}, // commit marker, aborted record, abort marker
		span{o0 + 1, end[0], true},  // the committed record in between
		span{end[0], end[0] + 5, false})
}

// A gap of aborted records larger than one fetch (1 MiB a partition) is
// read with several fetches: HasEvents finds the committed record after it,
// and reports none before it. (kfake leaves out a partition's aborted
// transactions when the response-wide byte limit cuts its data; a fetch
// whose response limit equals the partition limit saw the aborted records
// as events here.)
func TestSourceHasEventsAfterLargeGap(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	w := newTxnWriter(t, c, topic)
	rng := rand.NewChaCha8([32]byte{7})
	big := func() []byte { // incompressible, so each batch stays ~600 KB
		b := make([]byte, 600<<10)
		_, _ = rng.Read(b)
		return b
	}
	var first int64 = -1
	for range 4 {
		offs := w.txn(false, big())
		if first < 0 {
			first = offs[0]
		}
	}
	committed := w.txn(true, []byte("c1"))[0]

	rd, err := kafkaprojection.NewReader(context.Background(), c.Client(t), topic)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rd.Close() })
	ctx := timeout(t, 60*time.Second)
	end, err := rd.End(ctx)
	require.NoError(t, err)
	require.Equal(t, committed+2, end[0])
	requireHasEvents(t, ctx, rd,
		span{first, committed + 1, true},
		span{first, committed, false},
		span{first, end[0], true},
		span{committed + 1, end[0], false})
}
