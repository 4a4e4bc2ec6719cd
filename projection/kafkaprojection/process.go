package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// written commits the offsets again before it reports success.
//
// Positions topic. On a 3-node Kafka 4.4 cluster whose group coordinator
// was SIGKILLed during a commit, a transaction's events were committed and
// its offsets were not (docs/faults.md); a new owner of the partition
// would then start from the older offset and decide the batch again. So
// every transaction also writes the offset as a record to the group's
// positions topic ([WithPositionTopic]; by default [DefaultPositionTopic],
// created at the first Start when missing: compacted, as many partitions
// and replicas as the consumed topic), and Start resumes from the later
// of the group's committed offset and the last position record. The
// store's principal needs Write on that topic and the client's principal
// Read (and Create, unless it is created beforehand). One consequence: to
// move a process manager back (re-running decisions, which repeats their
// effects), resetting the group's offsets is not enough; delete the
// positions topic's records too (or the topic).
//
// What this relies on from Kafka,
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
	positions    string // the positions topic; "" writes none
	logger       *slog.Logger

	mu         sync.Mutex
	lastCommit map[int32]time.Time // per partition, of the last offset commit
	ensured    bool                // the positions topic exists
}

// CommitterOption configures a [ProcessCommitter].
type CommitterOption func(*ProcessCommitter)

// WithPositionTopic sets the topic to which each transaction also writes
// the group's position (see [ProcessCommitter]). The default is
// [DefaultPositionTopic](topic, group). "" writes none: the manager then
// relies on Kafka keeping every transactional offset commit, which it did
// not on a cluster whose group coordinator was killed during a commit
// (docs/faults.md).
func WithPositionTopic(name string) CommitterOption {
	return func(c *ProcessCommitter) { c.positions = name }
}

// WithCommitterLogger sets the logger for what Start finds (a position
// record ahead of the group's offset). The default is slog.Default().
func WithCommitterLogger(l *slog.Logger) CommitterOption {
	return func(c *ProcessCommitter) { c.logger = l }
}

// idleCommitEvery is how often a partition whose batches decide nothing
// has its offset committed (a plain commit, synchronously, so it reaches
// the group after the transactions before it): often enough that a
// restart does not re-read much, rarely enough not to cost a round trip
// per batch.
const idleCommitEvery = time.Second

// NewProcessCommitter returns a committer that appends to store and
// commits the offsets of group on topic (the topic its Source consumes;
// usually the store's own), with the position records described at
// [ProcessCommitter]. client reads the group's committed offsets and the
// positions (and creates the positions topic); it is not closed.
func NewProcessCommitter(store *kafka.Store, client sarama.Client, topic, group string, opts ...CommitterOption) *ProcessCommitter {
	c := &ProcessCommitter{store: store, client: client, topic: topic, group: group, lastCommit: map[int32]time.Time{},
		positions: DefaultPositionTopic(topic, group), logger: slog.Default()}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Start returns where to resume the partitions: the group's committed
// offset (only stable ones: an offset committed in a transaction that is
// still open is waited for, so a new owner never resumes before an old
// owner's commit), or the last position record when it is later (Kafka
// lost the offset of a committed transaction; logged as a warning). At
// the first call it creates the positions topic when it is missing.
func (c *ProcessCommitter) Start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, error) {
	if err := c.ensure(ctx); err != nil {
		return nil, err
	}
	cp, err := committedOffsets(ctx, c.client, c.group, c.topic)
	if err != nil {
		return nil, err
	}
	if partitions == nil {
		if partitions, err = c.client.Partitions(c.topic); err != nil {
			return nil, fmt.Errorf("kafkaprojection: partitions of %s: %w", c.topic, err)
		}
	}
	out := eventstore.Checkpoint{}
	for _, p := range partitions {
		if off, ok := cp[p]; ok {
			out[p] = off
		}
	}
	if c.positions == "" {
		return out, nil
	}
	// After the group's offsets are stable: a transaction of an earlier
	// owner is decided, so its position record is visible or gone.
	last, err := c.lastPositions(ctx, partitions)
	if err != nil {
		return nil, err
	}
	for p, next := range last {
		if off, ok := out[p]; !ok || next > off {
			c.logger.WarnContext(ctx, "kafkaprojection: the group's committed offset is behind the position its last transaction wrote (Kafka lost a transactional offset commit); resuming from the position record",
				slog.String("group", c.group), slog.String("topic", c.topic), slog.Int("partition", int(p)),
				slog.Int64("group_offset", offOr(out, p)), slog.Int64("position", next), slog.String("positions_topic", c.positions))
			out[p] = next
		}
	}
	return out, nil
}

// offOr returns cp[p], or -1 when cp has none.
func offOr(cp eventstore.Checkpoint, p int32) int64 {
	if off, ok := cp[p]; ok {
		return off
	}
	return -1
}

// ensure checks once that the positions topic is usable, creating it
// when it is missing.
func (c *ProcessCommitter) ensure(ctx context.Context) error {
	c.mu.Lock()
	done := c.ensured
	c.mu.Unlock()
	if done {
		return nil
	}
	if c.positions == "" {
		if DefaultPositionTopic(c.topic, c.group) == "" {
			c.logger.WarnContext(ctx, "kafkaprojection: no positions topic: the group's name cannot be part of a topic name; set kafkaprojection.WithPositionTopic",
				slog.String("group", c.group))
		}
	} else if err := c.ensurePositionTopic(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.ensured = true
	c.mu.Unlock()
	return nil
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
		Offsets: map[int32]int64{partition: next}, PositionTopic: c.positions,
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
