package kafkaprojection_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// dropOffsetCommits makes the embedded Kafka answer every TxnOffsetCommit
// and OffsetCommit as applied without applying it while armed() holds:
// what a 3-node cluster did with one transaction's offsets when its group
// coordinator was killed during the commit (docs/faults.md), for every
// commit.
func dropOffsetCommits(c *kafkatest.Cluster, armed func() bool) {
	c.Fake().ControlKey(int16(kmsg.TxnOffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if !armed() {
			return nil, nil, false
		}
		return kafkatest.TxnOffsetCommitAnswer(kreq.(*kmsg.TxnOffsetCommitRequest), 0), nil, true
	})
	c.Fake().ControlKey(int16(kmsg.OffsetCommit), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if !armed() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestProcessManagerLostOffsetsNewOwner: Kafka loses the consumer-group
// offsets of a process manager's committed transactions (simulated: the
// embedded Kafka answers the offset commits without applying them), and
// the partitions move to another instance (manager A stops, B starts in
// the same group). With the positions topic, B resumes from the position
// records the transactions wrote and records nothing twice; without it
// (WithPositionTopic("")), B starts from the group's older offsets and
// decides the batches again: every input recorded twice, which shows what
// the positions topic is for.
func TestProcessManagerLostOffsetsNewOwner(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []kafkaprojection.CommitterOption
		wantTimes int
	}{
		{"positions", nil, 1},
		{"no-positions", []kafkaprojection.CommitterOption{kafkaprojection.WithPositionTopic("")}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, topic := eventsTopic(t, 2)
			if c.Fake() == nil {
				t.Skip("intercepts offset commits of the embedded Kafka")
			}
			const n = 40
			newProducer(t, c, topic).depositN(n, 8)
			var lost atomic.Bool
			lost.Store(true)
			dropOffsetCommits(c, lost.Load)
			group := kafkatest.TopicName(t, "group")
			ctx := timeout(t, 2*time.Minute)
			var deposits []eventstore.Position
			{
				s, err := kafka.New(ctx, c.Client(t), topic)
				require.NoError(t, err)
				for ev, err := range s.ReadAll(ctx, nil, eventstore.WithTypes("test.Deposited")) {
					require.NoError(t, err)
					deposits = append(deposits, ev.Position)
				}
				_ = s.Close()
			}
			run := func() (wait func(), stop func() error) {
				store, err := kafka.New(ctx, c.Client(t), topic)
				require.NoError(t, err)
				t.Cleanup(func() { _ = store.Close() })
				src := newProcessSource(t, c, topic, group, kafkaprojection.WithMaxBatch(4))
				m := ledgerManager(t, store, kafkaprojection.NewProcessCommitter(store, c.Client(t), topic, group, tc.opts...), nil)
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- m.Run(rctx, src) }()
				return func() { require.NoError(t, m.WaitFor(ctx, deposits...)) }, func() error { cancel(); return <-done }
			}
			waitA, stopA := run()
			waitA()
			require.ErrorIs(t, stopA(), context.Canceled)
			got := allRecorded(t, c, topic, n, 30*time.Second, "A recorded every input")
			for id, k := range got {
				require.Equal(t, 1, k, "A recorded input %s once", id)
			}
			committed, err := kafkaprojection.NewProcessCommitter(nil, c.Client(t), topic, group, kafkaprojection.WithPositionTopic("")).Start(ctx, nil)
			require.NoError(t, err)
			require.Empty(t, committed, "the simulated loss: no offset reached the group")

			lost.Store(false)
			waitB, stopB := run() // the partitions' new owner
			waitB()
			require.ErrorIs(t, stopB(), context.Canceled)
			got, ok := recordedInputs(t, c, topic)
			require.True(t, ok)
			require.Len(t, got, n)
			for _, id := range inputIDs(t, c, topic) {
				require.Equal(t, tc.wantTimes, got[id], "input event %s recorded %d times, want %d", id, got[id], tc.wantTimes)
			}
		})
	}
}

// TestProcessCommitterStartSearchesPositions: Start finds each consumed
// partition's last position record even when many records of another
// partition follow it on the same positions partition (the search widens
// its window below the last stable offset), takes the later of it and the
// group's offset, and leaves a partition without records at the group's
// offset or absent.
func TestProcessCommitterStartSearchesPositions(t *testing.T) {
	c, topic := eventsTopic(t, 3)
	group := kafkatest.TopicName(t, "group")
	positions := topic + ".pos"
	c.CreateTopic(t, positions, 1, nil) // all three partitions' records on one
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	// Acknowledged by every in-sync replica, as the process manager's
	// transactions write them: on a replicated cluster a record the
	// leader alone acknowledged is not below the high watermark yet.
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	defer prod.Close()
	put := func(p int32, next int64) {
		_, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: positions, Partition: 0,
			Key: sarama.ByteEncoder(wire.PositionKey(group, topic, p)), Value: sarama.ByteEncoder(wire.PositionValue(next))})
		require.NoError(t, err)
	}
	put(0, 5)
	put(0, 17) // partition 0's last
	for i := range 300 {
		put(1, int64(100+i)) // partition 1's last: 399
	}
	// Another group's records on the same partition are not ours.
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: positions, Partition: 0,
		Key: sarama.ByteEncoder(wire.PositionKey(group+"-other", topic, 2)), Value: sarama.ByteEncoder(wire.PositionValue(1000))})
	require.NoError(t, err)

	// The group's own committed offset of partition 2 (no position record).
	client := c.Client(t)
	coord, err := client.Coordinator(group)
	require.NoError(t, err)
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	req.AddBlock(topic, 2, 7, 0, "")
	resp, err := coord.CommitOffset(req)
	require.NoError(t, err)
	require.Equal(t, sarama.ErrNoError, resp.Errors[topic][2])

	ctx := timeout(t, 30*time.Second)
	cm := kafkaprojection.NewProcessCommitter(nil, c.Client(t), topic, group, kafkaprojection.WithPositionTopic(positions), kafkaprojection.WithCommitterLogger(discard()))
	cp, err := cm.Start(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, eventstore.Checkpoint{0: 17, 1: 399, 2: 7}, cp)
	cp, err = cm.Start(ctx, []int32{0, 2})
	require.NoError(t, err)
	require.Equal(t, eventstore.Checkpoint{0: 17, 2: 7}, cp)
}

// TestProcessCommitterStartWaitsForOpenPositions: when Kafka lost a
// transaction's offset commit, the group does not know of the transaction,
// so the group's offsets look stable while its position record still waits
// for its commit marker. Start must wait for transactions open on the
// positions partition and then see the record, not read past it.
func TestProcessCommitterStartWaitsForOpenPositions(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	group := kafkatest.TopicName(t, "group")
	positions := topic + ".pos"
	c.CreateTopic(t, positions, 1, nil)
	client := c.Client(t)
	coord, err := client.Coordinator(group)
	require.NoError(t, err)
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	req.AddBlock(topic, 0, 3, 0, "")
	_, err = coord.CommitOffset(req)
	require.NoError(t, err)

	cfg := c.TransactionalConfig(kafkatest.TopicName(t, "txid"))
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	defer prod.Close()
	require.NoError(t, prod.BeginTxn())
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: positions, Partition: 0,
		Key: sarama.ByteEncoder(wire.PositionKey(group, topic, 0)), Value: sarama.ByteEncoder(wire.PositionValue(42))})
	require.NoError(t, err)
	committed := make(chan error, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		committed <- prod.CommitTxn()
	}()
	ctx := timeout(t, 30*time.Second)
	cm := kafkaprojection.NewProcessCommitter(nil, client, topic, group, kafkaprojection.WithPositionTopic(positions), kafkaprojection.WithCommitterLogger(discard()))
	start := time.Now()
	cp, err := cm.Start(ctx, []int32{0})
	require.NoError(t, err)
	require.NoError(t, <-committed)
	require.Equal(t, eventstore.Checkpoint{0: 42}, cp, "the open transaction's record, once committed")
	require.Greater(t, time.Since(start), 500*time.Millisecond, "Start waited for the transaction")
}
