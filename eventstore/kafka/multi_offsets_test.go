package kafka_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestMultiWithOffsetsRepeatCommitsOffsets: the transaction of an
// AppendMultiWithOffsets commits its events but not its consumer offsets
// (seen on a 3-node cluster whose group coordinator was killed during the
// commit; simulated here by a group coordinator that answers the
// TxnOffsetCommit without applying it), and the commit's answer is lost.
// The repeat with the same event IDs finds the events written and commits
// the offsets again before it reports success, so a process manager does
// not decide the batch again after a restart. Embedded Kafka only (it
// intercepts requests).
func TestMultiWithOffsetsRepeatCommitsOffsets(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("intercepts requests of the embedded Kafka")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	group := kafkatest.TopicName(t, "group")
	var armed atomic.Bool
	injected := errors.New("injected: the answer to the commit was lost")
	s := openStressStore(t, c, topic, kafka.WithTransactionTimeout(time.Minute),
		kafka.WithTestEndTxn(func(commit bool) (bool, error) {
			if commit && armed.CompareAndSwap(true, false) {
				return true, injected
			}
			return true, nil
		}))
	var dropped atomic.Int32
	c.Fake().ControlKey(int16(kmsg.TxnOffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		// Answer the first TxnOffsetCommit as applied, without applying it.
		dropped.Add(1)
		return kafkatest.TxnOffsetCommitAnswer(kreq.(*kmsg.TxnOffsetCommitRequest), 0), nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, aIDs := newEvents(1, "pm")
	b, bIDs := newEvents(1, "pm")
	appends := []eventstore.StreamAppend{
		{StreamID: "ledger-a", Expected: eventstore.NoStream, Events: a},
		{StreamID: "ledger-b", Expected: eventstore.NoStream, Events: b},
	}
	positions := topic + ".positions"
	c.CreateTopic(t, positions, 2, nil)
	offsets := kafka.ConsumerOffsets{Group: group, GenerationID: -1, Topic: topic, Offsets: map[int32]int64{1: 10}, PositionTopic: positions}
	armed.Store(true)
	_, err := s.AppendMultiWithOffsets(ctx, offsets, appends...)
	require.ErrorIs(t, err, eventstore.ErrUnknownOutcome)
	require.Equal(t, int32(1), dropped.Load())
	require.NotContains(t, committed(t, c, group, topic), int32(1), "the simulated loss: the events committed, the offsets not")

	res, err := s.AppendMultiWithOffsets(ctx, offsets, appends...)
	require.NoError(t, err, "the repeat finds the events written")
	require.Equal(t, int64(1), res[0].Version)
	require.Equal(t, int64(1), res[1].Version)
	require.Equal(t, int64(10), committed(t, c, group, topic)[1], "the repeat committed the offsets again")

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	require.NoError(t, err)
	r := logcheck.Check(log, 2, []logcheck.Append{
		{Writer: "pm", Stream: "ledger-a", IDs: aIDs, Outcome: logcheck.Acked, Version: 1, Positions: res[0].Positions},
		{Writer: "pm", Stream: "ledger-b", IDs: bIDs, Outcome: logcheck.Acked, Version: 1, Positions: res[1].Positions},
	})
	require.Empty(t, r.Problems)
	require.Equal(t, 2, r.Events, "the events once each")
	// The position record of the first attempt committed with its events;
	// the repeat's transaction (after the producer was replaced) wrote it
	// again with the offsets.
	require.Equal(t, map[string][]int64{string(wire.PositionKey(group, topic, 1)): {10, 10}}, committedPositions(t, c, positions))
}

// committed returns the group's committed offsets of topic.
func committed(t *testing.T, c *kafkatest.Cluster, group, topic string) map[int32]int64 {
	t.Helper()
	client := c.Client(t)
	coord, err := client.Coordinator(group)
	require.NoError(t, err)
	req := &sarama.OffsetFetchRequest{Version: 7, ConsumerGroup: group, RequireStable: true}
	req.AddPartition(topic, 0)
	req.AddPartition(topic, 1)
	resp, err := coord.FetchOffset(req)
	require.NoError(t, err)
	out := map[int32]int64{}
	for _, p := range []int32{0, 1} {
		if blk := resp.GetBlock(topic, p); blk != nil && blk.Err == sarama.ErrNoError && blk.Offset >= 0 {
			out[p] = blk.Offset
		}
	}
	return out
}
