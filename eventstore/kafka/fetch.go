package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// record is one record returned by a raw fetch: a data record, or the
// marker of a control batch (commit or abort) when control is set.
type record struct {
	offset     int64
	key, value []byte
	headers    []*sarama.RecordHeader
	ts         time.Time
	producerID int64
	// txn is set for records written in a transaction.
	txn bool
	// control is set for a transaction marker; abort tells which kind.
	control, abort bool
}

// partResult is what a fetch returned for one partition.
type partResult struct {
	// recs are the records at or after the fetch offset, in offset order.
	// For read_committed fetches, records of aborted transactions and
	// control markers are already removed.
	recs []record
	// next is the offset to fetch next: one past the last batch returned
	// (control batches and aborted records count), or the fetch offset when
	// nothing came back.
	next int64
	// hw and lso are the partition's high watermark and last stable offset.
	hw, lso int64
	// from is the fetch offset (set by callers that need it).
	from int64
}

// fetcher issues raw fetch requests on one sarama client. Raw fetches give
// what the sarama consumer hides: the last stable offset, control markers
// and the producers of records, which the conflict scan needs.
type fetcher struct {
	client sarama.Client
	topic  string
	// onRecords, when set, is called with the number of records decoded
	// from every response (tests count the cost of loads with it).
	onRecords func(n int)
}

// fetchMaxBytes is the per-partition byte limit of a fetch. Kafka returns at
// least the first batch even when it is larger.
const fetchMaxBytes = 1 << 20

// fetch reads the partitions in offsets (partition -> fetch offset) with the
// given isolation, waiting up to maxWait for data. Partitions are grouped by
// leader, one request per broker, brokers in parallel. maxBytes limits each
// partition's response.
func (f *fetcher) fetch(ctx context.Context, offsets map[int32]int64, iso sarama.IsolationLevel, maxWait time.Duration, maxBytes int32) (map[int32]*partResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	byLeader := map[*sarama.Broker][]int32{}
	for p := range offsets {
		b, err := f.client.Leader(f.topic, p)
		if err != nil {
			_ = f.client.RefreshMetadata(f.topic)
			return nil, fmt.Errorf("kafka: find the leader of %s/%d: %w", f.topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
	}
	out := make(map[int32]*partResult, len(offsets))
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for b, parts := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.fetchBroker(b, parts, offsets, iso, maxWait, maxBytes)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for p, r := range res {
				out[p] = r
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func (f *fetcher) fetchBroker(b *sarama.Broker, parts []int32, offsets map[int32]int64, iso sarama.IsolationLevel, maxWait time.Duration, maxBytes int32) (map[int32]*partResult, error) {
	req := &sarama.FetchRequest{
		Version:      11,
		MaxWaitTime:  int32(maxWait / time.Millisecond),
		MinBytes:     1,
		MaxBytes:     50 << 20,
		Isolation:    iso,
		SessionID:    0,
		SessionEpoch: -1, // a full fetch outside any fetch session
	}
	for _, p := range parts {
		req.AddBlock(f.topic, p, offsets[p], maxBytes, -1)
	}
	resp, err := b.Fetch(req)
	if err != nil {
		_ = b.Close() // let the client reconnect on the next request
		_ = f.client.RefreshMetadata(f.topic)
		return nil, fmt.Errorf("kafka: fetch %s from broker %s: %w", f.topic, b.Addr(), err)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("kafka: fetch %s from broker %s: %w", f.topic, b.Addr(), sarama.KError(resp.ErrorCode))
	}
	out := make(map[int32]*partResult, len(parts))
	n := 0
	for _, p := range parts {
		blk := resp.GetBlock(f.topic, p)
		if blk == nil {
			return nil, fmt.Errorf("kafka: fetch %s/%d from broker %s: no data for the partition in the response", f.topic, p, b.Addr())
		}
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			if retriable(blk.Err) {
				_ = f.client.RefreshMetadata(f.topic)
			}
			return nil, fmt.Errorf("kafka: fetch %s/%d at offset %d: %w", f.topic, p, offsets[p], blk.Err)
		}
		r := parseBlock(blk, offsets[p], iso)
		n += len(r.recs)
		out[p] = r
	}
	if f.onRecords != nil {
		f.onRecords(n)
	}
	return out, nil
}

// retriable reports whether a partition error means the metadata is stale
// and the request should be retried after a refresh.
func retriable(err error) bool {
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

// parseBlock turns a partition's fetch response into records. For
// read_committed it drops control markers and the records of aborted
// transactions, using the response's aborted transaction list the way the
// Java consumer does: a producer's records are dropped from the first
// offset of its aborted transaction until its next control marker.
func parseBlock(blk *sarama.FetchResponseBlock, from int64, iso sarama.IsolationLevel) *partResult {
	r := &partResult{next: from, hw: blk.HighWaterMarkOffset, lso: blk.LastStableOffset}
	if r.lso < 0 {
		r.lso = r.hw
	}
	aborted := slices.Clone(blk.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b *sarama.AbortedTransaction) int { return cmpInt64(a.FirstOffset, b.FirstOffset) })
	abortedPIDs := map[int64]bool{}
	for _, rs := range blk.RecordsSet {
		if rs == nil {
			continue
		}
		if rs.MsgSet != nil {
			// Legacy (pre-0.11) messages: never written by kafkaes; keep
			// them as header-less records so readers report them.
			for _, mb := range rs.MsgSet.Messages {
				if mb == nil || mb.Msg == nil || mb.Offset < from {
					continue
				}
				r.recs = append(r.recs, record{offset: mb.Offset, key: mb.Msg.Key, value: mb.Msg.Value, ts: mb.Msg.Timestamp, producerID: -1})
				r.next = max(r.next, mb.Offset+1)
			}
			continue
		}
		batch := rs.RecordBatch
		if batch == nil {
			continue
		}
		if batch.PartialTrailingRecord && len(batch.Records) == 0 {
			break // an incomplete batch at the end of the response
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= batch.LastOffset() {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		last := batch.LastOffset()
		if batch.PartialTrailingRecord {
			last = -1 // only the complete records of the batch count
		}
		if batch.Control {
			delete(abortedPIDs, batch.ProducerID)
			if iso == sarama.ReadUncommitted && batch.LastOffset() >= from {
				abort := true
				if len(batch.Records) > 0 && len(batch.Records[0].Key) >= 4 {
					// Control record key: int16 version, int16 type (0 abort, 1 commit).
					k := batch.Records[0].Key
					abort = int16(k[2])<<8|int16(k[3]) == 0
				}
				r.recs = append(r.recs, record{offset: batch.FirstOffset, producerID: batch.ProducerID, control: true, abort: abort})
			}
			r.next = max(r.next, batch.LastOffset()+1)
			continue
		}
		skip := iso == sarama.ReadCommitted && batch.IsTransactional && abortedPIDs[batch.ProducerID]
		for _, rec := range batch.Records {
			if rec == nil {
				continue
			}
			off := batch.FirstOffset + rec.OffsetDelta
			if off < from {
				continue
			}
			if !skip {
				ts := batch.FirstTimestamp.Add(rec.TimestampDelta)
				if batch.LogAppendTime {
					ts = batch.MaxTimestamp
				}
				r.recs = append(r.recs, record{offset: off, key: rec.Key, value: rec.Value, headers: rec.Headers, ts: ts,
					producerID: batch.ProducerID, txn: batch.IsTransactional})
			}
			r.next = max(r.next, off+1)
		}
		if last >= 0 {
			r.next = max(r.next, last+1)
		}
	}
	return r
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// listOffsets asks the leaders for an offset of every partition: with
// sarama.OffsetNewest the last stable offset (read_committed isolation) or
// the high watermark (read_uncommitted); with sarama.OffsetOldest the log
// start.
func (f *fetcher) listOffsets(ctx context.Context, parts []int32, which int64, iso sarama.IsolationLevel) (map[int32]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	byLeader := map[*sarama.Broker][]int32{}
	for _, p := range parts {
		b, err := f.client.Leader(f.topic, p)
		if err != nil {
			_ = f.client.RefreshMetadata(f.topic)
			return nil, fmt.Errorf("kafka: find the leader of %s/%d: %w", f.topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
	}
	out := make(map[int32]int64, len(parts))
	for b, ps := range byLeader {
		req := sarama.NewOffsetRequest(f.client.Config().Version)
		if req.Version < 2 {
			req.Version = 2
		}
		req.IsolationLevel = iso
		for _, p := range ps {
			req.AddBlock(f.topic, p, which, 1)
		}
		resp, err := b.GetAvailableOffsets(req)
		if err != nil {
			_ = b.Close()
			_ = f.client.RefreshMetadata(f.topic)
			return nil, fmt.Errorf("kafka: list offsets of %s on broker %s: %w", f.topic, b.Addr(), err)
		}
		for _, p := range ps {
			blk := resp.GetBlock(f.topic, p)
			if blk == nil {
				return nil, fmt.Errorf("kafka: list offsets of %s/%d: no answer for the partition", f.topic, p)
			}
			if !errors.Is(blk.Err, sarama.ErrNoError) {
				if retriable(blk.Err) {
					_ = f.client.RefreshMetadata(f.topic)
				}
				return nil, fmt.Errorf("kafka: list offsets of %s/%d: %w", f.topic, p, blk.Err)
			}
			out[p] = blk.Offset
		}
	}
	return out, nil
}

// retry runs op until it succeeds, fails with a non-retriable error, or ctx
// ends, backing off between attempts. Network errors and stale-metadata
// errors are retried.
func retry[T any](ctx context.Context, op func() (T, error)) (T, error) {
	backoff := 20 * time.Millisecond
	for {
		v, err := op()
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		if !transient(err) {
			return v, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(backoff*2, time.Second)
	}
}

// transient reports whether err is worth retrying: stale metadata, a
// broker that is not (yet) the leader, or a broken connection.
func transient(err error) bool {
	if retriable(err) {
		return true
	}
	if errors.Is(err, sarama.ErrClosedClient) || errors.Is(err, errTopicMissing) {
		return false
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
