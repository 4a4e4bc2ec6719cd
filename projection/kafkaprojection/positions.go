package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Positions topic of a process manager. Each transaction that commits a
// process manager's decisions with its consumer-group offset also writes
// the offset as a record to this topic (kafka.ConsumerOffsets.PositionTopic;
// the record format is in package internal/wire). Kafka normally makes the
// offset the group's committed offset with the events; on a 3-node cluster
// whose group coordinator was SIGKILLed while a transaction committed, the
// events were committed and the offset was not (docs/faults.md). A new
// owner of the partition would then start from the older offset and decide
// the batch again. The position record is an ordinary transactional record
// on an ordinary partition, committed exactly when the events are, so
// [ProcessCommitter.Start] resumes from the later of the group's offset
// and the last position record.
//
// Reading it costs one ListOffsets and usually one small fetch per
// partition at the start of a group session: the topic has as many
// partitions as the consumed topic, partition p holds only partition p's
// records (when the counts match), and the last one is read by fetching a
// short window below the last stable offset, widened only when it holds no
// record of the partition. The topic is compacted (one record per key is
// kept).

// positionPatience bounds how long reading the positions retries while a
// partition's leader is away.
const positionPatience = time.Minute

// positionWindow is the first window (in offsets below the last stable
// offset) searched for a partition's last position record; each further
// window is 8 times larger.
const positionWindow = 64

var legalTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// DefaultPositionTopic returns the name of the positions topic that a
// [ProcessCommitter] of group on topic uses by default:
// "<topic>.<group>.positions". It returns "" when that is not a legal
// topic name (a group name with characters other than ASCII letters,
// digits, '.', '_' and '-', or a name longer than 249 characters); set
// [WithPositionTopic] then.
func DefaultPositionTopic(topic, group string) string {
	name := topic + "." + group + ".positions"
	if len(name) > 249 || !legalTopic.MatchString(name) {
		return ""
	}
	return name
}

// ReadPositions returns the last committed position record of group on
// each partition of topic that has one, read from the group's positions
// topic (positionTopic, or [DefaultPositionTopic](topic, group) when it is
// empty), as [ProcessCommitter.Start] reads them: a process manager
// resumes a partition from the later of this position and the group's
// committed offset. found is false, with no error, when the positions
// topic does not exist (the group is no process manager, or one without
// positions). It waits, up to a minute, for transactions open on the
// positions topic to be decided. Tools use it (kafkaes projection
// status); client is not closed.
func ReadPositions(ctx context.Context, client sarama.Client, topic, group, positionTopic string) (positions eventstore.Checkpoint, found bool, err error) {
	if positionTopic == "" {
		positionTopic = DefaultPositionTopic(topic, group)
	}
	if positionTopic == "" {
		return nil, false, nil
	}
	exists, err := kafkafetch.TopicExists(client, positionTopic)
	if err != nil {
		if kafkaauth.Fatal(err) {
			return nil, false, kafkaauth.Wrap(err, client.Config(), "look up the positions topic of group "+group, "Describe", kafkaauth.Topic, positionTopic, false)
		}
		return nil, false, fmt.Errorf("kafkaprojection: look up the positions topic %s of group %s: %w", positionTopic, group, err)
	}
	if !exists {
		return nil, false, nil
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, true, fmt.Errorf("kafkaprojection: partitions of %s: %w", topic, err)
	}
	c := &ProcessCommitter{client: client, topic: topic, group: group, positions: positionTopic}
	positions, err = c.lastPositions(ctx, parts)
	return positions, true, err
}

// ensurePositionTopic creates the positions topic when it is missing: as
// many partitions as topic, the same replication factor, compacted, and
// topic's min.insync.replicas when it can be read.
func (c *ProcessCommitter) ensurePositionTopic(ctx context.Context) error {
	exists, err := kafkafetch.TopicExists(c.client, c.positions)
	if err != nil {
		if kafkaauth.Fatal(err) {
			return kafkaauth.Wrap(err, c.client.Config(), "look up the positions topic of group "+c.group, "Describe", kafkaauth.Topic, c.positions, false)
		}
		return fmt.Errorf("kafkaprojection: look up the positions topic %s of group %s: %w", c.positions, c.group, err)
	}
	if exists {
		return nil
	}
	parts, err := c.client.Partitions(c.topic)
	if err != nil {
		return fmt.Errorf("kafkaprojection: partitions of %s: %w", c.topic, err)
	}
	replicas, err := c.client.Replicas(c.topic, parts[0])
	if err != nil || len(replicas) == 0 {
		return fmt.Errorf("kafkaprojection: replicas of %s/%d: %v", c.topic, parts[0], err)
	}
	compact := "compact"
	entries := map[string]*string{"cleanup.policy": &compact}
	admin, err := sarama.NewClusterAdminFromClient(c.client)
	if err != nil {
		return fmt.Errorf("kafkaprojection: admin client: %w", err)
	}
	// The admin shares c.client; closing it would close the client.
	if cfg, err := kafkafetch.TopicConfig(admin, c.topic, "min.insync.replicas"); err == nil {
		for _, e := range cfg {
			if e.Name == "min.insync.replicas" && !e.Default {
				v := e.Value
				entries["min.insync.replicas"] = &v
			}
		}
	}
	err = admin.CreateTopic(c.positions, &sarama.TopicDetail{
		NumPartitions: int32(len(parts)), ReplicationFactor: int16(len(replicas)), ConfigEntries: entries,
	}, false)
	switch {
	case err == nil || errors.Is(err, sarama.ErrTopicAlreadyExists):
	case kafkaauth.Fatal(err):
		return kafkaauth.Wrap(err, c.client.Config(), fmt.Sprintf("create the positions topic of group %s (or create it yourself: kafka-topics.sh --create --topic %s --partitions %d --replication-factor %d --config cleanup.policy=compact)",
			c.group, c.positions, len(parts), len(replicas)), "Create", kafkaauth.Topic, c.positions, false)
	default:
		return fmt.Errorf("kafkaprojection: create the positions topic %s of group %s: %w", c.positions, c.group, err)
	}
	// Wait until the client sees it (the store's producer looks up its
	// partitions when it writes).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.client.RefreshMetadata(c.positions); err == nil {
			if ps, err := c.client.Partitions(c.positions); err == nil && len(ps) == len(parts) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kafkaprojection: the positions topic %s of group %s was created but its partitions did not appear in the metadata within 10s", c.positions, c.group)
		}
		if err := ctxtime.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// lastPositions returns the last committed position record of c's group
// for each of parts (partitions of c.topic), read from the positions
// topic; a partition without one is absent.
func (c *ProcessCommitter) lastPositions(ctx context.Context, parts []int32) (eventstore.Checkpoint, error) {
	pparts, err := c.client.Partitions(c.positions)
	if err != nil {
		if kafkaauth.Fatal(err) {
			return nil, kafkaauth.Wrap(err, c.client.Config(), "read the positions of group "+c.group, "Read", kafkaauth.Topic, c.positions, false)
		}
		return nil, fmt.Errorf("kafkaprojection: partitions of the positions topic %s: %w", c.positions, err)
	}
	n := int32(len(pparts))
	want := map[int32]map[string]int32{} // positions partition -> key -> consumed partition
	for _, p := range parts {
		pp := wire.PositionPartition(p, n)
		if want[pp] == nil {
			want[pp] = map[string]int32{}
		}
		want[pp][string(wire.PositionKey(c.group, c.topic, p))] = p
	}
	out := eventstore.Checkpoint{}
	for pp, keys := range want {
		if err := c.searchPositions(ctx, pp, keys, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// searchPositions finds, in partition pp of the positions topic, the last
// committed record of each key of keys and sets out[partition] to its
// offset: it reads windows below the last stable offset, each further
// window 8 times larger, until every key was found or the log start was
// reached.
func (c *ProcessCommitter) searchPositions(ctx context.Context, pp int32, keys map[string]int32, out eventstore.Checkpoint) error {
	lso, start, err := c.settledEnd(ctx, pp)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	hi, window := lso, int64(positionWindow)
	for hi > start && len(found) < len(keys) {
		lo := max(start, hi-window)
		last := map[string]int64{}
		for off := lo; off < hi; {
			var r *kafkafetch.Partition
			err := c.retryLeader(ctx, func() error {
				res, err := kafkafetch.Fetch(ctx, c.client, c.positions, map[int32]int64{pp: off}, kafkafetch.Options{Isolation: sarama.ReadCommitted})
				if err != nil {
					return err
				}
				r = res[pp]
				return r.Err
			})
			if errors.Is(err, sarama.ErrOffsetOutOfRange) {
				// Compaction or deletion moved the log start: go on
				// from there.
				if r != nil && r.LogStartOffset > off {
					off = r.LogStartOffset
					continue
				}
			}
			if err != nil {
				return c.positionsErr(pp, err)
			}
			for _, rec := range r.Records {
				if rec.Offset >= hi {
					break
				}
				if _, ok := keys[string(rec.Key)]; !ok || found[string(rec.Key)] {
					continue
				}
				_, _, _, next, err := wire.ParsePosition(rec.Key, rec.Value)
				if err != nil {
					return fmt.Errorf("kafkaprojection: positions topic %s/%d at offset %d: %w", c.positions, pp, rec.Offset, err)
				}
				last[string(rec.Key)] = next
			}
			if r.Next <= off {
				break // nothing more below the last stable offset
			}
			off = r.Next
		}
		for k, next := range last {
			found[k] = true
			out[keys[k]] = next
		}
		hi, window = lo, window*8
	}
	return nil
}

// settledEnd returns the last stable offset and the log start of
// partition pp of the positions topic, after every transaction that was
// open on it when it was called has been decided: the last stable offset
// has reached the high watermark read first. The group's offsets are
// stable when Start reads them (require_stable), but when Kafka lost a
// transaction's offset commit, the group does not know of that
// transaction, and its position record may still wait for its commit
// marker; reading past it would miss it. Waits longer than
// positionPatience (a transaction left open by a crashed writer is
// aborted after the transaction timeout) fail with an error matching
// eventstore.ErrUnavailable: the session restarts.
func (c *ProcessCommitter) settledEnd(ctx context.Context, pp int32) (lso, start int64, err error) {
	deadline := time.Now().Add(positionPatience)
	var hw int64 = -1
	for {
		err := c.retryLeader(ctx, func() error {
			if hw < 0 {
				hws, err := kafkafetch.ListOffsets(ctx, c.client, c.positions, []int32{pp}, sarama.OffsetNewest, sarama.ReadUncommitted)
				if err != nil {
					return err
				}
				hw = hws[pp]
			}
			ends, err := kafkafetch.ListOffsets(ctx, c.client, c.positions, []int32{pp}, sarama.OffsetNewest, sarama.ReadCommitted)
			if err != nil {
				return err
			}
			lso = ends[pp]
			if lso < hw {
				return nil // still open: asked again below
			}
			starts, err := kafkafetch.ListOffsets(ctx, c.client, c.positions, []int32{pp}, sarama.OffsetOldest, sarama.ReadCommitted)
			if err != nil {
				return err
			}
			start = starts[pp]
			return nil
		})
		if err != nil {
			return 0, 0, c.positionsErr(pp, err)
		}
		if lso >= hw {
			return lso, start, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%w: kafkaprojection: the positions topic %s/%d of group %s holds a transaction still open after %v (last stable offset %d, high watermark %d when the session started): its position record cannot be read yet",
				eventstore.ErrUnavailable, c.positions, pp, c.group, positionPatience, lso, hw)
		}
		if err := ctxtime.Sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
}

// retryLeader runs fn, again while it fails because a leader is away or
// moved, for up to positionPatience.
func (c *ProcessCommitter) retryLeader(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(positionPatience)
	backoff := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !transientKafka(err) || time.Now().After(deadline) {
			return err
		}
		_ = c.client.RefreshMetadata(c.positions)
		if err := ctxtime.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (c *ProcessCommitter) positionsErr(pp int32, err error) error {
	if kafkaauth.Fatal(err) {
		return kafkaauth.Wrap(err, c.client.Config(), "read the positions of group "+c.group, "Read", kafkaauth.Topic, c.positions, false)
	}
	if transientKafka(err) {
		err = fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return fmt.Errorf("kafkaprojection: read the positions topic %s/%d of group %s: %w", c.positions, pp, c.group, err)
}
