package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
)

// listOffsets asks the partitions' leaders for sarama.OffsetNewest (the
// last stable offset, as isolation is read_committed; sarama's
// client.GetOffset would give the high watermark) or sarama.OffsetOldest.
func listOffsets(ctx context.Context, client sarama.Client, topic string, parts []int32, which int64) (eventstore.Checkpoint, error) {
	byLeader := map[*sarama.Broker][]int32{}
	for _, p := range parts {
		b, err := client.Leader(topic, p)
		if err != nil {
			_ = client.RefreshMetadata(topic)
			return nil, fmt.Errorf("kafkaprojection: leader of %s/%d: %w", topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
	}
	out := eventstore.Checkpoint{}
	for b, ps := range byLeader {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		req := sarama.NewOffsetRequest(client.Config().Version)
		if req.Version < 2 {
			req.Version = 2
		}
		req.IsolationLevel = sarama.ReadCommitted
		for _, p := range ps {
			req.AddBlock(topic, p, which, 1)
		}
		resp, err := b.GetAvailableOffsets(req)
		if err != nil {
			_ = client.RefreshMetadata(topic)
			return nil, fmt.Errorf("kafkaprojection: list offsets of %s on %s: %w", topic, b.Addr(), err)
		}
		for _, p := range ps {
			blk := resp.GetBlock(topic, p)
			if blk == nil {
				return nil, fmt.Errorf("kafkaprojection: list offsets of %s/%d: no answer for the partition", topic, p)
			}
			if !errors.Is(blk.Err, sarama.ErrNoError) {
				return nil, fmt.Errorf("kafkaprojection: list offsets of %s/%d: %w", topic, p, blk.Err)
			}
			out[p] = blk.Offset
		}
	}
	return out, nil
}

// committedDataBetween reports whether offsets [from, to) of the partition
// hold any record a read_committed consumer would see (a committed or
// non-transactional data record), with raw fetches that show what the
// sarama consumer hides: control batches and aborted records.
func committedDataBetween(ctx context.Context, client sarama.Client, topic string, p int32, from, to int64) (bool, error) {
	for from < to {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		b, err := client.Leader(topic, p)
		if err != nil {
			return false, err
		}
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 0, MinBytes: 0, MaxBytes: 1 << 20,
			Isolation: sarama.ReadCommitted, SessionEpoch: -1}
		req.AddBlock(topic, p, from, 1<<20, -1)
		resp, err := b.Fetch(req)
		if err != nil {
			return false, err
		}
		blk := resp.GetBlock(topic, p)
		if blk == nil {
			return false, fmt.Errorf("kafkaprojection: fetch %s/%d: no answer for the partition", topic, p)
		}
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			return false, blk.Err
		}
		data, next := scanBlock(blk, from, to)
		if data {
			return true, nil
		}
		if next <= from {
			return false, nil // nothing more to read below the stable offset
		}
		from = next
	}
	return false, nil
}

// scanBlock reports whether blk has a visible data record in [from, to) and
// the offset after the last batch it holds. Records of aborted
// transactions are recognised the way the Java consumer does: from the
// first offset of an aborted transaction of a producer to its next marker.
func scanBlock(blk *sarama.FetchResponseBlock, from, to int64) (bool, int64) {
	next := from
	aborted := slices.Clone(blk.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b *sarama.AbortedTransaction) int {
		switch {
		case a.FirstOffset < b.FirstOffset:
			return -1
		case a.FirstOffset > b.FirstOffset:
			return 1
		}
		return 0
	})
	abortedPIDs := map[int64]bool{}
	for _, rs := range blk.RecordsSet {
		if rs == nil {
			continue
		}
		if rs.MsgSet != nil {
			for _, mb := range rs.MsgSet.Messages {
				if mb != nil && mb.Offset >= from && mb.Offset < to {
					return true, next
				}
			}
			continue
		}
		batch := rs.RecordBatch
		if batch == nil || (batch.PartialTrailingRecord && len(batch.Records) == 0) {
			break
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= batch.LastOffset() {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if batch.Control {
			delete(abortedPIDs, batch.ProducerID)
			next = max(next, batch.LastOffset()+1)
			continue
		}
		if !(batch.IsTransactional && abortedPIDs[batch.ProducerID]) {
			for _, rec := range batch.Records {
				if rec == nil {
					continue
				}
				if off := batch.FirstOffset + rec.OffsetDelta; off >= from && off < to {
					return true, next
				}
			}
		}
		if !batch.PartialTrailingRecord {
			next = max(next, batch.LastOffset()+1)
		}
	}
	return false, next
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
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
