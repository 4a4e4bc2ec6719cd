package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

// listOffsets asks the partitions' leaders for sarama.OffsetNewest (the
// last stable offset, as isolation is read_committed; sarama's
// client.GetOffset would give the high watermark) or sarama.OffsetOldest.
func listOffsets(ctx context.Context, client sarama.Client, topic string, parts []int32, which int64) (eventstore.Checkpoint, error) {
	out, err := kafkafetch.ListOffsets(ctx, client, topic, parts, which, sarama.ReadCommitted)
	if err != nil {
		return nil, fmt.Errorf("kafkaprojection: %w", err)
	}
	return out, nil
}

// committedDataBetween reports whether offsets [from, to) of the partition
// hold any record a read_committed consumer would see (a committed or
// non-transactional data record), with raw fetches that show what the
// sarama consumer hides: transaction markers and aborted records take
// offsets but are never delivered.
func committedDataBetween(ctx context.Context, client sarama.Client, topic string, p int32, from, to int64) (bool, error) {
	opts := kafkafetch.Options{Isolation: sarama.ReadCommitted}
	for from < to {
		res, err := kafkafetch.Fetch(ctx, client, topic, map[int32]int64{p: from}, opts)
		if err != nil {
			return false, fmt.Errorf("kafkaprojection: %w", err)
		}
		r := res[p]
		if r.Err != nil {
			return false, fmt.Errorf("kafkaprojection: %w", r.Err)
		}
		// Records are in offset order, at or after from.
		if len(r.Records) > 0 && r.Records[0].Offset < to {
			return true, nil
		}
		if r.Next <= from {
			return false, nil // nothing more to read below the stable offset
		}
		from = r.Next
	}
	return false, nil
}

// coordinatorPatience is how long committedOffsets keeps retrying while the
// group's coordinator cannot be reached or is still loading the group (a
// coordinator broker that died or restarted, a coordinator that moved): a
// broker restart and the election of a new coordinator take seconds.
const coordinatorPatience = time.Minute

// committedOffsets returns the committed offsets of group for topic, only
// stable ones (offsets of open transactions are waited for). While the
// group's coordinator is away (a broken connection, a coordinator that
// moved, not available or still loading offsets) it finds the coordinator
// again and retries, for up to coordinatorPatience; after that it fails
// with an error matching eventstore.ErrUnavailable. Other errors (a
// missing ACL among them) end it at once.
func committedOffsets(ctx context.Context, client sarama.Client, group, topic string) (eventstore.Checkpoint, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("kafkaprojection: partitions of %s: %w", topic, err)
	}
	var req *sarama.OffsetFetchRequest
	if client.Config().Version.IsAtLeast(sarama.V2_5_0_0) {
		req = &sarama.OffsetFetchRequest{Version: 7, ConsumerGroup: group, RequireStable: true}
		for _, p := range parts {
			req.AddPartition(topic, p)
		}
	} else {
		req = sarama.NewOffsetFetchRequest(client.Config().Version, group, map[string][]int32{topic: parts})
	}
	deadline := time.Now().Add(coordinatorPatience)
	backoff := 50 * time.Millisecond
	for {
		cp, err := fetchCommitted(client, req, group, topic, parts)
		switch {
		case err == nil && cp != nil:
			return cp, nil
		case err == nil: // an offset of an open transaction: wait for it
			if err := ctxtime.Sleep(ctx, 50*time.Millisecond); err != nil {
				return nil, err
			}
			continue
		case !transientKafka(err):
			return nil, err
		}
		_ = client.RefreshCoordinator(group)
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %w (the group's coordinator did not answer for %v)", eventstore.ErrUnavailable, err, coordinatorPatience)
		}
		if err := ctxtime.Sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, time.Second)
	}
}

// fetchCommitted asks the group's coordinator once for the committed
// offsets; a nil checkpoint without an error means an offset of an open
// transaction is not stable yet.
func fetchCommitted(client sarama.Client, req *sarama.OffsetFetchRequest, group, topic string, parts []int32) (eventstore.Checkpoint, error) {
	coord, err := client.Coordinator(group)
	if err != nil {
		return nil, fmt.Errorf("kafkaprojection: coordinator of group %s: %w", group, err)
	}
	resp, err := coord.FetchOffset(req)
	if err == nil && !errors.Is(resp.Err, sarama.ErrNoError) && resp.Err != 0 {
		err = resp.Err
	}
	if err != nil {
		return nil, fmt.Errorf("kafkaprojection: fetch offsets of group %s: %w", group, err)
	}
	cp := eventstore.Checkpoint{}
	for _, p := range parts {
		blk := resp.GetBlock(topic, p)
		if blk == nil {
			continue
		}
		if errors.Is(blk.Err, sarama.ErrUnstableOffsetCommit) {
			return nil, nil
		}
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			return nil, fmt.Errorf("kafkaprojection: fetch offset of group %s for %s/%d: %w", group, topic, p, blk.Err)
		}
		if blk.Offset >= 0 {
			cp[p] = blk.Offset
		}
	}
	return cp, nil
}

// transientKafka reports whether err says a broker could not answer now
// but may soon: a broken or refused connection, a coordinator that moved,
// is not available or is loading the group, or stale metadata
// (kafkafetch.Retriable). A missing ACL, a closed client and context
// errors are not transient.
func transientKafka(err error) bool {
	if kafkaauth.Fatal(err) || errors.Is(err, sarama.ErrClosedClient) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if kafkafetch.Retriable(err) {
		return true
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		switch ke {
		case sarama.ErrNotCoordinatorForConsumer, sarama.ErrConsumerCoordinatorNotAvailable, sarama.ErrOffsetsLoadInProgress:
			return true
		}
		return false
	}
	return true // a network error: EOF, connection refused or reset, a timeout
}
