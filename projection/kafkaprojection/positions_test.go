package kafkaprojection_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
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
		req := kreq.(*kmsg.TxnOffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
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
