package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// rec is one data record of a topic, as a read_committed reader sees it.
type rec struct {
	partition  int32
	offset     int64
	key, value []byte
	headers    []*sarama.RecordHeader
	ts         time.Time
}

// reader reads a topic with raw read_committed fetches. It does not use
// sarama's consumer because that consumer cannot say how far it has read:
// transaction markers and aborted records take offsets but are never
// delivered, so "consume until the last offset" can wait forever. A raw
// fetch gives the offset after the last batch, markers included, so reading
// up to the last stable offset ends exactly.
type reader struct {
	client   sarama.Client
	topic    string
	maxBytes int32
	// maxWait is how long the broker may hold a fetch that finds no data.
	maxWait time.Duration
}

func newReader(client sarama.Client, topic string) *reader {
	return &reader{client: client, topic: topic, maxBytes: 1 << 20, maxWait: 500 * time.Millisecond}
}

// partitions returns the topic's partitions, or an error that says the
// topic does not exist.
func (r *reader) partitions() ([]int32, error) {
	if err := r.client.RefreshMetadata(r.topic); err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %q does not exist (use --topic; 'kafkaes topics' lists the topics)", r.topic)
		}
		return nil, fmt.Errorf("read the metadata of topic %q: %w", r.topic, err)
	}
	ps, err := r.client.Partitions(r.topic)
	if err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, fmt.Errorf("topic %q does not exist (use --topic; 'kafkaes topics' lists the topics)", r.topic)
		}
		return nil, fmt.Errorf("list the partitions of topic %q: %w", r.topic, err)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("topic %q has no partitions", r.topic)
	}
	slices.Sort(ps)
	return ps, nil
}

// offsets asks the partition leaders for an offset of each partition:
// sarama.OffsetNewest gives the last stable offset (the end for a
// read_committed reader, never the high watermark), sarama.OffsetOldest the
// log start offset.
func (r *reader) offsets(ctx context.Context, parts []int32, which int64) (map[int32]int64, error) {
	return withRetry(ctx, func() (map[int32]int64, error) {
		byLeader, err := r.leaders(parts)
		if err != nil {
			return nil, err
		}
		out := make(map[int32]int64, len(parts))
		for b, ps := range byLeader {
			req := sarama.NewOffsetRequest(r.client.Config().Version)
			if req.Version < 2 {
				req.Version = 2
			}
			req.IsolationLevel = sarama.ReadCommitted
			for _, p := range ps {
				req.AddBlock(r.topic, p, which, 1)
			}
			resp, err := b.GetAvailableOffsets(req)
			if err != nil {
				_ = b.Close()
				return nil, fmt.Errorf("list offsets of %s on broker %s: %w", r.topic, b.Addr(), err)
			}
			for _, p := range ps {
				blk := resp.GetBlock(r.topic, p)
				if blk == nil {
					return nil, fmt.Errorf("list offsets of %s/%d: no answer for the partition", r.topic, p)
				}
				if !errors.Is(blk.Err, sarama.ErrNoError) {
					return nil, fmt.Errorf("list offsets of %s/%d: %w", r.topic, p, blk.Err)
				}
				out[p] = blk.Offset
			}
		}
		return out, nil
	})
}

func (r *reader) leaders(parts []int32) (map[*sarama.Broker][]int32, error) {
	byLeader := map[*sarama.Broker][]int32{}
	for _, p := range parts {
		b, err := r.client.Leader(r.topic, p)
		if err != nil {
			_ = r.client.RefreshMetadata(r.topic)
			return nil, fmt.Errorf("find the leader of %s/%d: %w", r.topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
	}
	return byLeader, nil
}

// fetched is what one fetch returned for a partition.
type fetched struct {
	recs []rec
	// next is the offset to fetch next: past the last complete batch,
	// transaction markers and aborted records included.
	next int64
	// lso is the partition's last stable offset at the broker.
	lso int64
}

// fetch reads the partitions in from (partition -> offset) once,
// read_committed, one request per leader, leaders in parallel.
func (r *reader) fetch(ctx context.Context, from map[int32]int64) (map[int32]*fetched, error) {
	parts := make([]int32, 0, len(from))
	for p := range from {
		parts = append(parts, p)
	}
	return withRetry(ctx, func() (map[int32]*fetched, error) {
		byLeader, err := r.leaders(parts)
		if err != nil {
			return nil, err
		}
		out := make(map[int32]*fetched, len(from))
		var (
			mu       sync.Mutex
			wg       sync.WaitGroup
			firstErr error
		)
		for b, ps := range byLeader {
			wg.Go(func() {
				res, err := r.fetchBroker(b, ps, from)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				for p, f := range res {
					out[p] = f
				}
			})
		}
		wg.Wait()
		return out, firstErr
	})
}

func (r *reader) fetchBroker(b *sarama.Broker, parts []int32, from map[int32]int64) (map[int32]*fetched, error) {
	req := &sarama.FetchRequest{
		Version:      11,
		MaxWaitTime:  int32(r.maxWait / time.Millisecond),
		MinBytes:     1,
		MaxBytes:     64 << 20,
		Isolation:    sarama.ReadCommitted,
		SessionEpoch: -1, // a full fetch outside any fetch session
	}
	for _, p := range parts {
		req.AddBlock(r.topic, p, from[p], r.maxBytes, -1)
	}
	resp, err := b.Fetch(req)
	if err != nil {
		_ = b.Close()
		_ = r.client.RefreshMetadata(r.topic)
		return nil, fmt.Errorf("fetch %s from broker %s: %w", r.topic, b.Addr(), err)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch %s from broker %s: %w", r.topic, b.Addr(), sarama.KError(resp.ErrorCode))
	}
	out := make(map[int32]*fetched, len(parts))
	for _, p := range parts {
		blk := resp.GetBlock(r.topic, p)
		if blk == nil {
			return nil, fmt.Errorf("fetch %s/%d from broker %s: the response has no data for the partition", r.topic, p, b.Addr())
		}
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			if errors.Is(blk.Err, sarama.ErrOffsetOutOfRange) {
				return nil, &outOfRangeError{partition: p, offset: from[p]}
			}
			_ = r.client.RefreshMetadata(r.topic)
			return nil, fmt.Errorf("fetch %s/%d at offset %d: %w", r.topic, p, from[p], blk.Err)
		}
		out[p] = parseBlock(blk, p, from[p])
	}
	return out, nil
}

// outOfRangeError says a fetch offset is outside the partition's log (the
// log start moved past it, e.g. by retention).
type outOfRangeError struct {
	partition int32
	offset    int64
}

func (e *outOfRangeError) Error() string {
	return fmt.Sprintf("partition %d: offset %d is out of range (records were deleted, by retention or delete-records, while reading)", e.partition, e.offset)
}

// parseBlock turns a read_committed fetch response of one partition into
// records: control batches and the records of aborted transactions are
// dropped, using the response's aborted-transaction list as the Java
// consumer does (a producer's transactional records are aborted from the
// first offset of its aborted transaction until its next control marker).
func parseBlock(blk *sarama.FetchResponseBlock, p int32, from int64) *fetched {
	f := &fetched{next: from, lso: blk.LastStableOffset}
	if f.lso < 0 {
		f.lso = blk.HighWaterMarkOffset
	}
	aborted := slices.Clone(blk.AbortedTransactions)
	sort.Slice(aborted, func(i, j int) bool { return aborted[i].FirstOffset < aborted[j].FirstOffset })
	abortedPIDs := map[int64]bool{}
	n := 0
	for _, rs := range blk.RecordsSet {
		if rs != nil && rs.RecordBatch != nil {
			n += len(rs.RecordBatch.Records)
		}
	}
	f.recs = make([]rec, 0, n)
	for _, rs := range blk.RecordsSet {
		if rs == nil {
			continue
		}
		if rs.MsgSet != nil {
			// Legacy messages (no headers): never written by kafkaes, kept so
			// that verify reports them as foreign records.
			for _, mb := range rs.MsgSet.Messages {
				if mb == nil || mb.Msg == nil || mb.Offset < from {
					continue
				}
				f.recs = append(f.recs, rec{partition: p, offset: mb.Offset, key: mb.Msg.Key, value: mb.Msg.Value, ts: mb.Msg.Timestamp})
				f.next = max(f.next, mb.Offset+1)
			}
			continue
		}
		batch := rs.RecordBatch
		if batch == nil {
			continue
		}
		if batch.PartialTrailingRecord {
			break // an incomplete batch at the end of the response; fetched again next time
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= batch.LastOffset() {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if batch.Control {
			delete(abortedPIDs, batch.ProducerID)
			f.next = max(f.next, batch.LastOffset()+1)
			continue
		}
		skip := batch.IsTransactional && abortedPIDs[batch.ProducerID]
		for _, r := range batch.Records {
			if r == nil {
				continue
			}
			off := batch.FirstOffset + r.OffsetDelta
			if off < from || skip {
				continue
			}
			ts := batch.FirstTimestamp.Add(r.TimestampDelta)
			if batch.LogAppendTime {
				ts = batch.MaxTimestamp
			}
			f.recs = append(f.recs, rec{partition: p, offset: off, key: r.Key, value: r.Value, headers: r.Headers, ts: ts})
		}
		f.next = max(f.next, batch.LastOffset()+1)
	}
	return f
}

// scan reads the partitions of from, each from its offset up to its offset
// in to (exclusive), and calls fn with every record in offset order per
// partition (partitions interleave). With to nil it follows the topic until
// ctx ends, then returns ctx.Err(). round, when not nil, is called after
// every fetch with the next offset of every partition.
func (r *reader) scan(ctx context.Context, from, to map[int32]int64, fn func(rec) error, round func(next map[int32]int64)) error {
	next := make(map[int32]int64, len(from))
	for p, o := range from {
		if to == nil || o < to[p] {
			next[p] = o
		}
	}
	stalls := 0
	for len(next) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := r.fetch(ctx, next)
		if err != nil {
			return err
		}
		progressed := false
		for _, p := range sortedKeys(res) {
			f := res[p]
			for _, rc := range f.recs {
				if to != nil && rc.offset >= to[p] {
					break
				}
				if err := fn(rc); err != nil {
					return err
				}
			}
			if f.next > next[p] {
				progressed = true
				next[p] = f.next
			}
			if to != nil && next[p] >= to[p] {
				delete(next, p)
			}
		}
		if round != nil {
			round(next)
		}
		if to == nil || progressed {
			stalls = 0
			continue
		}
		// The end offsets are at most the last stable offsets, so the data
		// before them is always there; a fetch that returns nothing for
		// several rounds in a row means something else is wrong.
		if stalls++; stalls >= 40 {
			return fmt.Errorf("no progress reading %s at %v (ends %v) after %d fetches; is a broker unhealthy?", r.topic, next, to, stalls)
		}
	}
	return nil
}

func sortedKeys[V any](m map[int32]V) []int32 {
	ks := make([]int32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// withRetry runs op until it succeeds, fails with an error that retrying
// cannot fix, or five attempts failed.
func withRetry[T any](ctx context.Context, op func() (T, error)) (T, error) {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := op()
		if err == nil || attempt == 5 || !retriable(err) {
			return v, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

// retriable reports whether an error may go away after a metadata refresh
// or reconnect.
func retriable(err error) bool {
	var oor *outOfRangeError
	if errors.As(err, &oor) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		switch ke {
		case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrUnknownTopicOrPartition,
			sarama.ErrFencedLeaderEpoch, sarama.ErrUnknownLeaderEpoch, sarama.ErrOffsetNotAvailable,
			sarama.ErrRequestTimedOut, sarama.ErrNetworkException, sarama.ErrKafkaStorageError:
			return true
		}
		return false
	}
	return true // network errors
}
