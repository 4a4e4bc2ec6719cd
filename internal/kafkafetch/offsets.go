package kafkafetch

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// ListOffsets asks the leaders of parts for an offset of each partition of
// topic: with which = sarama.OffsetNewest the last stable offset (iso
// sarama.ReadCommitted) or the high watermark (sarama.ReadUncommitted);
// with sarama.OffsetOldest the log start offset. One ListOffsets request
// (version 2 or later) goes to each leader. Any error, including the error
// code of a single partition, fails the call.
func ListOffsets(ctx context.Context, client sarama.Client, topic string, parts []int32, which int64, iso sarama.IsolationLevel) (map[int32]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	byLeader, err := leaders(client, topic, parts)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(parts))
	for b, ps := range byLeader {
		req := sarama.NewOffsetRequest(client.Config().Version)
		if req.Version < 2 {
			req.Version = 2
		}
		req.IsolationLevel = iso
		for _, p := range ps {
			req.AddBlock(topic, p, which, 1)
		}
		resp, err := b.GetAvailableOffsets(req)
		if err != nil {
			_ = b.Close()
			_ = client.RefreshMetadata(topic)
			return nil, fmt.Errorf("list offsets of %s on broker %s: %w", topic, b.Addr(), err)
		}
		for _, p := range ps {
			blk := resp.GetBlock(topic, p)
			if blk == nil {
				return nil, fmt.Errorf("list offsets of %s/%d: no answer for the partition", topic, p)
			}
			if !errors.Is(blk.Err, sarama.ErrNoError) {
				if Retriable(blk.Err) {
					_ = client.RefreshMetadata(topic)
				}
				return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, p, blk.Err)
			}
			out[p] = blk.Offset
		}
	}
	return out, nil
}

// Retriable reports whether err carries a Kafka error code that means the
// client's metadata is stale or the broker is briefly unable to answer (no
// leader yet, leadership moved, a timeout), so that the request may
// succeed when retried after a metadata refresh. Errors without a Kafka
// error code (network errors, context errors) are not classified: it
// returns false for them.
func Retriable(err error) bool {
	var ke sarama.KError
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrUnknownTopicOrPartition,
		sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch, sarama.ErrOffsetNotAvailable,
		sarama.ErrNotEnoughReplicas, sarama.ErrRequestTimedOut, sarama.ErrNetworkException, sarama.ErrKafkaStorageError:
		return true
	}
	return false
}
