package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestRawBuild: the index build's raw fetch (rawbuild.go) builds the index
// the ordinary catch-up (through sarama) builds, on a partition of zstd
// batches, committed and aborted transactions of another writer
// (partition 0: the raw walker) and on one of gzip batches (partition 1:
// franz-go's parser), and it does walk the first and fall back on the
// second.
func TestRawBuild(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "rawbuild")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	ctx := testCtx(t)
	s := openStore(t, c, topic)

	// Partition 0: the store's own appends (zstd), and a committed and an
	// aborted transaction of another writer.
	tp := otherTxnProducer(t, c, "rawbuild-"+topic, sarama.CompressionZSTD)
	txn := func(stream string, commit bool) {
		require.NoError(t, tp.BeginTxn())
		var msgs []*sarama.ProducerMessage
		for v := range int64(3) {
			m := encodedMsg(topic, stream, v+1, "T")
			m.Partition = 0
			msgs = append(msgs, m)
		}
		require.NoError(t, tp.SendMessages(msgs))
		if commit {
			require.NoError(t, tp.CommitTxn())
		} else {
			require.NoError(t, tp.AbortTxn())
		}
	}
	appendTo := func(p int32, n int) {
		for i := range n {
			id := streamOn(p, 2, fmt.Sprintf("s%d", i))
			_, err := s.Append(ctx, id, eventstore.Any, ev("T", i), ev("T", i+1))
			require.NoError(t, err)
		}
	}
	appendTo(0, 5)
	txn(streamOn(0, 2, fmt.Sprintf("s%d", 100)), false)
	txn(streamOn(0, 2, fmt.Sprintf("s%d", 101)), true)
	txn(streamOn(0, 2, fmt.Sprintf("s%d", 102)), false)
	appendTo(0, 3)

	// Partition 1: gzip batches of another writer.
	gcfg := c.Config()
	gcfg.Producer.Return.Successes = true
	gcfg.Producer.RequiredAcks = sarama.WaitForAll
	gcfg.Producer.Partitioner = sarama.NewManualPartitioner
	gcfg.Producer.Compression = sarama.CompressionGZIP
	gp, err := sarama.NewSyncProducer(c.Brokers, gcfg)
	require.NoError(t, err)
	defer gp.Close()
	var msgs []*sarama.ProducerMessage
	for v := range int64(4) {
		m := encodedMsg(topic, "gz", v+1, "T")
		m.Partition = 1
		msgs = append(msgs, m)
	}
	require.NoError(t, gp.SendMessages(msgs))

	// Wait for the transactions' markers: the last stable offsets reach
	// the high watermarks.
	all := []int32{0, 1}
	require.Eventually(t, func() bool {
		lso, err1 := s.f.listOffsets(ctx, all, sarama.OffsetNewest, sarama.ReadCommitted)
		hw, err2 := s.f.listOffsets(ctx, all, sarama.OffsetNewest, sarama.ReadUncommitted)
		return err1 == nil && err2 == nil && lso[0] == hw[0] && lso[1] == hw[1]
	}, 30*time.Second, 20*time.Millisecond)

	raw, err := s.newRawFetcher()
	require.NoError(t, err)
	require.NotNil(t, raw)
	defer raw.close()
	res, err := raw.fetch(ctx, map[int32]int64{0: 0, 1: 0}, fetchMaxBytes)
	require.NoError(t, err)
	require.Len(t, res[0].parsed, 5*2+3+3*2, "partition 0: walked, aborted records dropped")
	require.Empty(t, res[0].recs)
	require.Len(t, res[1].recs, 4, "partition 1: franz-go's parser")
	require.Empty(t, res[1].parsed)

	built := openStore(t, c, topic) // New: build, then catch-up
	caught := openStore(t, c, topic)
	for p := range caught.idx {
		caught.idx[p] = newPartIndex()
	}
	require.NoError(t, caught.catchUp(ctx, all, false, nil))
	requireSameIndex(t, caught, built)
	for p := range built.idx {
		built.idx[p] = newPartIndex()
	}
	require.NoError(t, built.build(ctx, all, nil)) // the build alone
	requireSameIndex(t, caught, built)
	require.Nil(t, memIndex(built, 0).streams[streamOn(0, 2, fmt.Sprintf("s%d", 100))], "an aborted transaction's stream")
	require.Equal(t, int64(3), memIndex(built, 0).streams[streamOn(0, 2, fmt.Sprintf("s%d", 101))].version)
	require.Equal(t, int64(4), memIndex(built, 1).streams["gz"].version)
}
