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
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// committedPositions reads every committed position record of topic (read
// committed, from offset 0) and returns, per key, the values in log order.
// It first waits for the markers of the transactions that wrote them
// (Kafka writes them just after the commit returns; on a cluster of
// several brokers that takes a moment longer).
func committedPositions(t *testing.T, c *kafkatest.Cluster, topic string) map[string][]int64 {
	t.Helper()
	client := c.Client(t)
	parts, err := client.Partitions(topic)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		hw, err := kafkafetch.ListOffsets(ctx, client, topic, parts, sarama.OffsetNewest, sarama.ReadUncommitted)
		require.NoError(t, err)
		lso, err := kafkafetch.ListOffsets(ctx, client, topic, parts, sarama.OffsetNewest, sarama.ReadCommitted)
		require.NoError(t, err)
		settled := true
		for _, p := range parts {
			settled = settled && lso[p] >= hw[p]
		}
		if settled {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the positions topic %s still has open transactions: last stable offsets %v, high watermarks %v", topic, lso, hw)
		case <-time.After(20 * time.Millisecond):
		}
	}
	out := map[string][]int64{}
	for _, p := range parts {
		for off := int64(0); ; {
			res, err := kafkafetch.Fetch(context.Background(), client, topic, map[int32]int64{p: off}, kafkafetch.Options{Isolation: sarama.ReadCommitted})
			require.NoError(t, err)
			r := res[p]
			require.NoError(t, r.Err)
			for _, rec := range r.Records {
				g, tp, part, next, err := wire.ParsePosition(rec.Key, rec.Value)
				require.NoError(t, err)
				require.Equal(t, p, wire.PositionPartition(part, int32(len(parts))), "position record of %s/%s/%d on partition %d", g, tp, part, p)
				out[string(rec.Key)] = append(out[string(rec.Key)], next)
			}
			if r.Next <= off {
				break
			}
			off = r.Next
		}
	}
	return out
}

// TestMultiWithOffsetsWritesPositions: an AppendMultiWithOffsets with a
// PositionTopic writes one position record per consumed partition in its
// transaction (on the partition the wire format names); an append that
// fails on a conflict writes none; a missing positions topic fails the
// append before anything is written, saying what to do.
func TestMultiWithOffsetsWritesPositions(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	positions := topic + ".positions"
	c.CreateTopic(t, positions, 3, nil)
	group := kafkatest.TopicName(t, "group")
	s := openStressStore(t, c, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := kafka.ConsumerOffsets{Group: group, GenerationID: -1, Topic: topic, Offsets: map[int32]int64{0: 10, 1: 7}, PositionTopic: positions}

	a, _ := newEvents(1, "pm")
	_, err := s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: "ledger-a", Expected: eventstore.NoStream, Events: a})
	require.NoError(t, err)
	b, _ := newEvents(1, "pm")
	o.Offsets = map[int32]int64{0: 12}
	_, err = s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: "ledger-a", Expected: eventstore.NoStream, Events: b})
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	o.Offsets = map[int32]int64{0: 13}
	_, err = s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: "ledger-a", Expected: eventstore.Exact(1), Events: b})
	require.NoError(t, err)

	require.Equal(t, map[string][]int64{
		string(wire.PositionKey(group, topic, 0)): {10, 13},
		string(wire.PositionKey(group, topic, 1)): {7},
	}, committedPositions(t, c, positions), "the committed appends' positions, none of the conflicting one's")

	o.PositionTopic = topic + ".missing"
	c2, _ := newEvents(1, "pm")
	_, err = s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: "ledger-b", Expected: eventstore.NoStream, Events: c2})
	require.Error(t, err)
	require.Contains(t, err.Error(), "positions topic "+o.PositionTopic)
	v, err := streamVersion(ctx, s, "ledger-b")
	require.NoError(t, err)
	require.Equal(t, int64(0), v, "nothing written")
}

// TestMultiWithOffsetsPositionsAfterProducerReplaced: an attempt of an
// AppendMultiWithOffsets fails (the group coordinator answers the offset
// commit with an error) and its abort fails too, so the worker drops its
// producer; the next attempt looks up the positions topic before it has a
// new producer. It must write the append and its position (it once
// dereferenced the dropped producer: a panic in a 3-node fault test).
func TestMultiWithOffsetsPositionsAfterProducerReplaced(t *testing.T) {
	c := kafkatest.New(t)
	if c.Fake() == nil {
		t.Skip("intercepts requests of the embedded Kafka")
	}
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	positions := topic + ".positions"
	c.CreateTopic(t, positions, 2, nil)
	group := kafkatest.TopicName(t, "group")
	var armed atomic.Bool
	s := openStressStore(t, c, topic, kafka.WithTestEndTxn(func(commit bool) (bool, error) {
		if !commit && armed.CompareAndSwap(true, false) {
			return false, errors.New("injected: the abort failed")
		}
		return true, nil
	}))
	var failed atomic.Int32
	c.Fake().ControlKey(int16(kmsg.TxnOffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if failed.Load() > 0 {
			return nil, nil, false
		}
		failed.Add(1)
		// UNKNOWN_SERVER_ERROR: not retried in place.
		return kafkatest.TxnOffsetCommitAnswer(kreq.(*kmsg.TxnOffsetCommitRequest), -1), nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	armed.Store(true)
	a, _ := newEvents(1, "pm")
	o := kafka.ConsumerOffsets{Group: group, GenerationID: -1, Topic: topic, Offsets: map[int32]int64{0: 3}, PositionTopic: positions}
	_, err := s.AppendMultiWithOffsets(ctx, o, eventstore.StreamAppend{StreamID: "ledger-a", Expected: eventstore.NoStream, Events: a})
	require.NoError(t, err)
	require.Equal(t, int32(1), failed.Load(), "the first attempt's offset commit failed")
	require.False(t, armed.Load(), "its abort failed")
	require.Equal(t, map[string][]int64{string(wire.PositionKey(group, topic, 0)): {3}}, committedPositions(t, c, positions))
}
