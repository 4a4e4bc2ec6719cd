package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
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

// committedOffsets returns the committed offsets of group for topic, only
// stable ones (offsets of open transactions are waited for).
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
	for {
		coord, err := client.Coordinator(group)
		if err != nil {
			return nil, fmt.Errorf("kafkaprojection: coordinator of group %s: %w", group, err)
		}
		resp, err := coord.FetchOffset(req)
		if err == nil && errors.Is(resp.Err, sarama.ErrNotCoordinatorForConsumer) {
			err = resp.Err
		}
		if err != nil {
			_ = client.RefreshCoordinator(group)
			return nil, fmt.Errorf("kafkaprojection: fetch offsets of group %s: %w", group, err)
		}
		cp := eventstore.Checkpoint{}
		retry := false
		for _, p := range parts {
			blk := resp.GetBlock(topic, p)
			if blk == nil {
				continue
			}
			if errors.Is(blk.Err, sarama.ErrUnstableOffsetCommit) {
				retry = true
				break
			}
			if !errors.Is(blk.Err, sarama.ErrNoError) {
				return nil, fmt.Errorf("kafkaprojection: fetch offset of group %s for %s/%d: %w", group, topic, p, blk.Err)
			}
			if blk.Offset >= 0 {
				cp[p] = blk.Offset
			}
		}
		if !retry {
			return cp, nil
		}
		if err := ctxtime.Sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
