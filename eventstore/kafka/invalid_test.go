package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// rawProduce writes records as another producer would, and returns their
// offsets.
func rawProduce(t *testing.T, c *kafkatest.Cluster, msgs ...*sarama.ProducerMessage) []int64 {
	t.Helper()
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	defer p.Close()
	offs := make([]int64, len(msgs))
	for i, m := range msgs {
		_, off, err := p.SendMessage(m)
		require.NoError(t, err)
		offs[i] = off
	}
	return offs
}

// otherTxnProducer returns a transactional producer (ID id) of records to the
// partitions they name, compressed with codec; the test closes it.
func otherTxnProducer(t *testing.T, c *kafkatest.Cluster, id string, codec sarama.CompressionCodec) sarama.SyncProducer {
	t.Helper()
	cfg := c.Config()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = codec
	cfg.Producer.Transaction.ID = id
	cfg.Producer.Transaction.Timeout = 60 * time.Second
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func encodedMsg(topic, stream string, version int64, typ string) *sarama.ProducerMessage {
	key, hdrs := wire.Encode(stream, version, eventstore.Event{ID: eventstore.NewEventID(), Type: typ, Data: []byte("{}")}, time.Now())
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder("{}"), Headers: hdrs}
}

func requireCorruptAt(t *testing.T, err error, topic string, offset int64) {
	t.Helper()
	require.ErrorIs(t, err, eventstore.ErrCorruptLog)
	var ce *CorruptRecordError
	require.True(t, errors.As(err, &ce), "want a *CorruptRecordError, got %T %v", err, err)
	require.Equal(t, topic, ce.Topic)
	require.Equal(t, int32(0), ce.Partition)
	require.Equal(t, offset, ce.Offset, "%v", err)
	require.Contains(t, err.Error(), topic)
}

func TestInvalidRecords(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events-invalid")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)

	good := openStore(t, c, topic)
	_, err := good.Append(ctx, "good", eventstore.NoStream, ev("T", 1))
	require.NoError(t, err)

	badVersion := encodedMsg(topic, "bad-version", 1, "T")
	for i := range badVersion.Headers {
		if string(badVersion.Headers[i].Key) == wire.HeaderVersion {
			badVersion.Headers[i].Value = []byte("abc")
		}
	}
	offs := rawProduce(t, c,
		&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("foreign"), Value: sarama.StringEncoder("not an event")},
		badVersion,
		&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("no key")},
		encodedMsg(topic, "dup", 1, "T"),
		encodedMsg(topic, "dup", 1, "T"), // a duplicate version 1, written around kafkaes
		encodedMsg(topic, "gap", 2, "T"), // a stream starting at version 2
	)
	foreign, badV, dup2, gap := offs[0], offs[1], offs[4], offs[5]

	// A new store indexes the topic without failing; the bad records only
	// affect loads of their streams.
	s := openStore(t, c, topic)
	for _, s := range []*Store{s, good} {
		_, err := collectStream(t, s, "foreign")
		requireCorruptAt(t, err, topic, foreign)
		_, err = collectStream(t, s, "bad-version")
		requireCorruptAt(t, err, topic, badV)
		evs, err := collectStream(t, s, "dup")
		requireCorruptAt(t, err, topic, dup2)
		require.Len(t, evs, 1, "the valid first event comes before the error")
		_, err = collectStream(t, s, "gap")
		requireCorruptAt(t, err, topic, gap)
		evs, err = collectStream(t, s, "good")
		require.NoError(t, err)
		require.Len(t, evs, 1)
	}

	// Appends to other streams carry on.
	res, err := s.Append(ctx, "good", eventstore.Exact(1), ev("T", 2))
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Version)

	// ReadAll reports every bad record with its place and goes on.
	var bad []int64
	var okEvents int
	for e, err := range s.ReadAll(ctx, nil) {
		if err != nil {
			var ce *CorruptRecordError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, topic, ce.Topic)
			bad = append(bad, ce.Offset)
			continue
		}
		require.NotEmpty(t, e.StreamID)
		okEvents++
	}
	require.Equal(t, []int64{foreign, badV, offs[2], dup2, gap}, bad,
		"records that do not decode, and events out of place (the duplicate and the gap decode as events)")
	require.Equal(t, 3, okEvents)

	// A subscription meets them too, without panicking.
	sub, cancel := contextWithCancel(ctx)
	defer cancel()
	n := 0
	for _, err := range s.Subscribe(sub, nil) {
		n++
		if err != nil && errors.Is(err, eventstore.ErrCorruptLog) {
			var ce *CorruptRecordError
			require.ErrorAs(t, err, &ce)
		}
		if n == 8 {
			cancel()
		}
		if err != nil && errors.Is(err, sub.Err()) && sub.Err() != nil {
			break
		}
	}
	require.GreaterOrEqual(t, n, 8)

	// DecodeMessage reports a foreign record with its place.
	_, err = DecodeMessage(&sarama.ConsumerMessage{Topic: topic, Partition: 0, Offset: foreign, Key: []byte("foreign"), Value: []byte("x")})
	requireCorruptAt(t, err, topic, foreign)
	_, err = DecodeMessage(nil)
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
}
