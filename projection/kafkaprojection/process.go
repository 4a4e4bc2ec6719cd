package kafkaprojection

import (
	"context"
	"errors"
	"fmt"

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
// committed offsets. A batch that decided nothing commits its offset
// through the source, as a projection does.
//
// Use it with a Source of the same topic and group:
//
//	src, err := kafkaprojection.NewSource(ctx, client, "events", "fraud-check")
//	c := kafkaprojection.NewProcessCommitter(store, client, "events", "fraud-check")
//	m, err := process.New("fraud-check", sd, c, handlers)
//	err = m.Run(ctx, src)
type ProcessCommitter struct {
	store        *kafka.Store
	client       sarama.Client
	topic, group string
}

// NewProcessCommitter returns a committer that appends to store and
// commits the offsets of group on topic (the topic its Source consumes;
// usually the store's own). client reads the group's committed offsets;
// it is not closed.
func NewProcessCommitter(store *kafka.Store, client sarama.Client, topic, group string) *ProcessCommitter {
	return &ProcessCommitter{store: store, client: client, topic: topic, group: group}
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
// transaction. ctx must be the one the Source handed the batch with (it
// carries the group session).
func (c *ProcessCommitter) Commit(ctx context.Context, partition int32, next int64, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	write := false
	for _, a := range appends {
		write = write || len(a.Events) > 0
	}
	if !write {
		// Nothing to make atomic: the source commits the offset.
		return make([]eventstore.AppendResult, len(appends)), nil
	}
	sess, ok := SessionFrom(ctx)
	if !ok || sess.Group != c.group || sess.Topic != c.topic {
		return nil, fmt.Errorf("%w: kafkaprojection: the process committer of group %s on %s commits batches that a Source of that group delivers; run the manager with kafkaprojection.NewSource(ctx, client, %q, %q)",
			eventstore.ErrInvalidArgument, c.group, c.topic, c.topic, c.group)
	}
	res, err := c.store.AppendMultiWithOffsets(ctx, kafka.ConsumerOffsets{
		Group: c.group, GenerationID: sess.GenerationID, MemberID: sess.MemberID, Topic: c.topic,
		Offsets: map[int32]int64{partition: next},
	}, appends...)
	if errors.Is(err, kafka.ErrGroupFenced) {
		return nil, fmt.Errorf("%w: %w", projection.ErrCheckpointMoved, err)
	}
	return res, err
}
