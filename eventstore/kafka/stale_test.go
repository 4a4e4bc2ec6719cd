package kafka

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestReadStreamNeverShort: another writer's transaction stays open on
// stream "held" (a writer that died with it open, or a commit whose
// markers are late because a broker is paused: read_committed readers
// cannot get past it). A second store instance then appends to stream
// "after" of the same partition; its append is acknowledged, but sits
// behind the open transaction. ReadStream of "after" on the first store
// must not return the stream without that append as if it were complete:
// it fails with eventstore.ErrUnavailable. ReadStream of "held" fails the
// same way (its open records may be an acknowledged commit). A stream the
// open transaction does not hold up reads normally. Once the transaction
// ends, everything reads completely.
func TestReadStreamNeverShort(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	other := openStore(t, c, topic)
	ctx := testCtx(t)

	_, err := s.Append(ctx, "after", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)
	_, err = s.Append(ctx, "free", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)

	p := otherTxnProducer(t, c, "held-"+topic, sarama.CompressionNone)
	require.NoError(t, p.BeginTxn())
	require.NoError(t, p.SendMessages([]*sarama.ProducerMessage{encodedMsg(topic, "held", 1, "T")}))

	res, err := other.Append(ctx, "after", eventstore.Exact(1), ev("T", 2))
	require.NoError(t, err, "an append next to an open transaction of another stream")
	require.Equal(t, int64(2), res.Version)

	start := time.Now()
	evs, err := collectStream(t, s, "after")
	require.ErrorIs(t, err, eventstore.ErrUnavailable, "a read that misses an acknowledged append must fail (got %d events)", len(evs))
	require.Empty(t, evs)
	require.Less(t, time.Since(start), 20*time.Second)
	t.Logf("ReadStream held back: %v (after %v)", err, time.Since(start))

	_, err = collectStream(t, s, "held")
	require.ErrorIs(t, err, eventstore.ErrUnavailable, "open records of the stream itself")

	evs, err = collectStream(t, s, "free")
	require.NoError(t, err, "a stream the open transaction does not hold up")
	require.Len(t, evs, 1)

	require.NoError(t, p.AbortTxn())
	// AbortTxn returns once the coordinator logged the abort; the markers
	// reach the partition a little later (seconds on a loaded 3-node
	// cluster). Until then a read may still say ErrUnavailable, never
	// return a short stream.
	evs = readWhileUnavailable(t, s, "after", 30*time.Second)
	require.Len(t, evs, 2)
	_, err = collectStream(t, s, "held")
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
}

// readWhileUnavailable reads stream until the read succeeds, failing the
// test on any error other than eventstore.ErrUnavailable or when it does
// not succeed within d.
func readWhileUnavailable(t *testing.T, s eventstore.Store, stream string, d time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		evs, err := collectStream(t, s, stream)
		if err == nil {
			return evs
		}
		require.ErrorIs(t, err, eventstore.ErrUnavailable, "read of %q (%d events before the error)", stream, len(evs))
		require.Empty(t, evs, "an unavailable read yields nothing else")
		require.True(t, time.Now().Before(deadline), "read of %q still unavailable after %v: %v", stream, d, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadStreamBrokerAway: while the partition's leader does not answer
// fetches (embedded broker only), ReadStream fails with
// eventstore.ErrUnavailable instead of returning what the index held
// (which misses the append of another store instance acknowledged before
// the read).
func TestReadStreamBrokerAway(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("needs the embedded broker to refuse fetches")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	other := openStore(t, c, topic)
	ctx := testCtx(t)
	_, err := s.Append(ctx, "s", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)
	_, err = other.Append(ctx, "s", eventstore.Exact(1), ev("T", 2))
	require.NoError(t, err)

	var refuse atomic.Bool
	refuse.Store(true)
	c.Fake().ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = req.GetVersion()
		resp.ErrorCode = kerr.NotLeaderForPartition.Code
		return resp, nil, true
	})
	evs, err := collectStream(t, s, "s")
	t.Logf("lagging read: %d events, %v", len(evs), err)
	require.ErrorIs(t, err, eventstore.ErrUnavailable, "got %d events", len(evs))
	require.False(t, errors.Is(err, eventstore.ErrStreamNotFound))
	refuse.Store(false)
	evs, err = collectStream(t, s, "s")
	require.NoError(t, err)
	require.Len(t, evs, 2)
}

// TestReadStreamLaggingHighWatermark: the partition's leader answers
// fetches with a high watermark and last stable offset below an append of
// another store instance acknowledged before the read (a leader just
// elected whose followers have not fetched yet, or a former leader that
// still answers). ListOffsets knows the true end (embedded broker only:
// its fetches are rewritten). ReadStream must not take the fetch's end for
// the partition's: it fails with eventstore.ErrUnavailable rather than
// returning the stream without the append; once fetches answer truly, the
// stream reads completely.
func TestReadStreamLaggingHighWatermark(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("needs the embedded broker to rewrite fetch responses")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	s := openStore(t, c, topic)
	other := openStore(t, c, topic)
	ctx := testCtx(t)
	_, err := s.Append(ctx, "s", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)
	evs, err := collectStream(t, s, "s")
	require.NoError(t, err)
	require.Len(t, evs, 1)
	cl, err := sarama.NewClient(c.Brokers, c.Config())
	require.NoError(t, err)
	defer cl.Close()
	end, err := cl.GetOffset(topic, 0, sarama.OffsetNewest) // the end before other's append
	require.NoError(t, err)
	_, err = other.Append(ctx, "s", eventstore.Exact(1), ev("T", 2))
	require.NoError(t, err)

	var lag atomic.Bool
	lag.Store(true)
	c.Fake().ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if !lag.Load() {
			return nil, nil, false
		}
		// Answer as a leader whose high watermark is the end before
		// other's append: nothing to read there, everything below decided.
		fr := req.(*kmsg.FetchRequest)
		for _, rt := range fr.Topics {
			for _, rp := range rt.Partitions {
				if rp.FetchOffset < end {
					return nil, nil, false // records below the lagging end are served
				}
			}
		}
		resp := fr.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = fr.Version
		for _, rt := range fr.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = end, end, 0
				sp.RecordBatches = []byte{}
				sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	evs, err = collectStream(t, s, "s")
	t.Logf("lagging read: %d events, %v", len(evs), err)
	require.ErrorIs(t, err, eventstore.ErrUnavailable, "got %d events", len(evs))
	lag.Store(false)
	evs, err = collectStream(t, s, "s")
	require.NoError(t, err)
	require.Len(t, evs, 2)
}
