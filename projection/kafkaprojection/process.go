package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/projection"
)

// ProcessCommitter is the Kafka committer of a process manager (package
// projection/process): it writes a batch's decisions to the Kafka event
// store and the consumer group's offset after the batch in one Kafka
// transaction ([kafka.Store.AppendMultiWithOffsets]), as the group member
// that the [Source] delivered the batch for. So each input event's effects
// are committed exactly once: a crash before the commit leaves neither the
// events nor the offset, and the batch is processed again; after the
// commit both are there, and it is not. A member that lost its partition
// in a rebalance is refused by the group (KIP-447, Kafka 2.5 or later):
// nothing is written, and the manager resumes from the new owner's
// committed offsets. Its Source must be made by [NewProcessSource], which
// commits no offsets of its own.
//
// Faults. A commit whose coordinator is away (a broken connection, a
// coordinator that moved, a timeout) ends the group session with
// projection.ErrCheckpointMoved: the manager rejoins and resumes from the
// group's stable committed offsets, deciding again whatever was not
// committed. A transaction whose outcome is unknown is repeated with
// the same event IDs (the store recognises a repeat that was written) and
// otherwise ends the session the same way; a repeat that finds the events
// written commits the offsets again before it reports success (on a
// 3-node Kafka 4.4 cluster whose group coordinator was SIGKILLed during
// a commit, a transaction's events were committed and its offsets were
// not; the repeat restores them). Left open: when that happens and the
// partition moves to another member before the repeat, the new owner
// starts from the older offset and decides the batch again (seen once in
// about 40 fault-test runs, before the repeat re-committed the offsets;
// see docs/faults.md). What this relies on from Kafka,
// as every transactional consumer-producer does (Kafka Streams included):
// a request the client gave up on is either processed at once or never,
// not seconds later in another transaction of the same producer epoch
// (Kafka's transaction protocol v2 closes that gap with an epoch per
// transaction; see the decision in BENCHMARKS.md on why the store speaks
// v1).
//
// Use it with a Source of the same topic and group:
//
//	src, err := kafkaprojection.NewProcessSource(ctx, client, "events", "fraud-check")
//	c := kafkaprojection.NewProcessCommitter(store, client, "events", "fraud-check")
//	m, err := process.New("fraud-check", sd, c, handlers)
//	err = m.Run(ctx, src)
type ProcessCommitter struct {
	store        *kafka.Store
	client       sarama.Client
	topic, group string

	mu         sync.Mutex
	lastCommit map[int32]time.Time // per partition, of the last offset commit
}

// idleCommitEvery is how often a partition whose batches decide nothing
// has its offset committed (a plain commit, synchronously, so it reaches
// the group after the transactions before it): often enough that a
// restart does not re-read much, rarely enough not to cost a round trip
// per batch.
const idleCommitEvery = time.Second

// NewProcessCommitter returns a committer that appends to store and
// commits the offsets of group on topic (the topic its Source consumes;
// usually the store's own). client reads the group's committed offsets;
// it is not closed.
func NewProcessCommitter(store *kafka.Store, client sarama.Client, topic, group string) *ProcessCommitter {
	return &ProcessCommitter{store: store, client: client, topic: topic, group: group, lastCommit: map[int32]time.Time{}}
}

// Start returns the group's committed offsets of the partitions (only
// stable ones: an offset committed in a transaction that is still open is
// waited for, so a new owner never resumes before an old owner's commit).
func (c *ProcessCommitter) Start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, error) {
	cp, err := committedOffsets(ctx, c.client, c.group, c.topic)
	if err != nil || partitions == nil {
		return cp, err
	}
	out := eventstore.Checkpoint{}
	for _, p := range partitions {
		if off, ok := cp[p]; ok {
			out[p] = off
		}
	}
	return out, nil
}

// Commit writes appends and the offset next of partition in one Kafka
// transaction. ctx must be the one a Source made by [NewProcessSource]
// handed the batch with (it carries the group session). A batch that
// decided nothing has its offset committed with a plain, generation-fenced
// commit at most once a second per partition (its events are read again
// after a restart, and again decide nothing).
func (c *ProcessCommitter) Commit(ctx context.Context, partition int32, next int64, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	sess, ok := SessionFrom(ctx)
	if !ok || sess.Group != c.group || sess.Topic != c.topic || !sess.SinkCommits {
		return nil, fmt.Errorf("%w: kafkaprojection: the process committer of group %s on %s commits batches that a process source of that group delivers; run the manager with kafkaprojection.NewProcessSource(ctx, client, %q, %q)",
			eventstore.ErrInvalidArgument, c.group, c.topic, c.topic, c.group)
	}
	write := false
	for _, a := range appends {
		write = write || len(a.Events) > 0
	}
	if !write {
		c.mu.Lock()
		due := time.Since(c.lastCommit[partition]) >= idleCommitEvery
		c.mu.Unlock()
		if due {
			if err := c.commitPlain(sess, partition, next); err != nil {
				return nil, err
			}
		}
		return make([]eventstore.AppendResult, len(appends)), nil
	}
	res, err := c.store.AppendMultiWithOffsets(ctx, kafka.ConsumerOffsets{
		Group: c.group, GenerationID: sess.GenerationID, MemberID: sess.MemberID, Topic: c.topic,
		Offsets: map[int32]int64{partition: next},
	}, appends...)
	if errors.Is(err, kafka.ErrGroupFenced) {
		return nil, fmt.Errorf("%w: %w", projection.ErrCheckpointMoved, err)
	}
	if err == nil {
		c.mu.Lock()
		c.lastCommit[partition] = time.Now()
		c.mu.Unlock()
	}
	return res, err
}

// commitPlain commits next as the group's offset of partition, as the
// session's member (a member that lost the partition is refused).
func (c *ProcessCommitter) commitPlain(sess Session, partition int32, next int64) error {
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: c.group, ConsumerGroupGeneration: sess.GenerationID,
		ConsumerID: sess.MemberID, RetentionTime: -1}
	req.AddBlock(c.topic, partition, next, 0, "")
	// A commit that fails because the coordinator is away ends the group
	// session (projection.ErrCheckpointMoved): the manager rejoins and
	// resumes from the committed offsets, as after a rebalance, instead of
	// ending Run. Nothing of the batch is lost (it decided nothing).
	away := func(err error) error {
		_ = c.client.RefreshCoordinator(c.group)
		return fmt.Errorf("%w: kafkaprojection: commit the offset of %s/%d for group %s: the group's coordinator did not answer; rejoining: %w",
			projection.ErrCheckpointMoved, c.topic, partition, c.group, err)
	}
	coord, err := c.client.Coordinator(c.group)
	if err != nil {
		if transientKafka(err) {
			return away(err)
		}
		return fmt.Errorf("kafkaprojection: commit the offset of %s/%d for group %s: %w", c.topic, partition, c.group, err)
	}
	resp, err := coord.CommitOffset(req)
	if err != nil {
		if transientKafka(err) {
			return away(err)
		}
		return fmt.Errorf("kafkaprojection: commit the offset of %s/%d for group %s: %w", c.topic, partition, c.group, err)
	}
	kerr := resp.Errors[c.topic][partition]
	switch kerr {
	case sarama.ErrNoError:
		c.mu.Lock()
		c.lastCommit[partition] = time.Now()
		c.mu.Unlock()
		return nil
	case sarama.ErrIllegalGeneration, sarama.ErrUnknownMemberId, sarama.ErrRebalanceInProgress, sarama.ErrFencedInstancedId:
		return fmt.Errorf("%w: kafkaprojection: group %s refused the offset of %s/%d: %w", projection.ErrCheckpointMoved, c.group, c.topic, partition, kerr)
	case sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable, sarama.ErrRequestTimedOut, sarama.ErrOffsetsLoadInProgress:
		return away(kerr)
	}
	return fmt.Errorf("kafkaprojection: commit the offset of %s/%d for group %s: %w", c.topic, partition, c.group, kerr)
}
