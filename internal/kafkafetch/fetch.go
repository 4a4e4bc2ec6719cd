package kafkafetch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// MaxResponseBytes is the byte limit of a whole fetch response, over all
// its partitions.
const MaxResponseBytes = 64 << 20

// DefaultMaxBytesPerPartition is the per-partition byte limit of a fetch
// when [Options.MaxBytesPerPartition] is not set.
const DefaultMaxBytesPerPartition = 1 << 20

// Options says how [Fetch] reads. The zero value reads uncommitted,
// without waiting, up to [DefaultMaxBytesPerPartition] per partition, and
// drops transaction markers.
type Options struct {
	// Isolation is the fetch's isolation level; the zero value is
	// sarama.ReadUncommitted. With sarama.ReadCommitted the broker stops
	// at the last stable offset, and the records of aborted transactions
	// are dropped.
	Isolation sarama.IsolationLevel
	// MaxWait is how long a broker may hold a fetch that finds no data;
	// 0 (the default) answers at once.
	MaxWait time.Duration
	// MaxBytesPerPartition limits each partition's data in the response
	// (default [DefaultMaxBytesPerPartition]). Kafka still returns the
	// first batch of a partition when it is larger.
	MaxBytesPerPartition int32
	// Markers, when set, returns transaction markers (control batches) as
	// records with [Record.Control] set; by default they are dropped.
	Markers bool
	// OnResponse, when set, is called after each broker's response has
	// been decoded, with the number of records it returned (markers
	// included when Markers is set). Calls may be concurrent. Tests count
	// the cost of reads with it.
	OnResponse func(records int)
}

// Record is one record of a fetch response: a data record or, with
// [Options.Markers], a transaction marker.
type Record struct {
	Offset     int64
	Key, Value []byte
	Headers    []*sarama.RecordHeader
	// Timestamp is the record's timestamp: the create time, or the log
	// append time when the topic uses it.
	Timestamp time.Time
	// ProducerID is the ID of the producer that wrote the record, -1 for a
	// producer that is neither idempotent nor transactional, and for
	// records in the legacy (pre-0.11) message format.
	ProducerID int64
	// Transactional is set for data records written in a transaction.
	Transactional bool
	// Control is set for a transaction marker; Abort then tells an abort
	// marker from a commit marker. Markers have no key, value or headers.
	Control, Abort bool
}

// Partition is what a fetch returned for one partition.
type Partition struct {
	// Records are the records at or after the fetch offset, in offset
	// order.
	Records []Record
	// Next is the offset to fetch next: one past the last complete batch
	// of the response, transaction markers and aborted records included
	// (so a read_committed reader can stop exactly at the last stable
	// offset), or the fetch offset when nothing came back.
	Next int64
	// HighWaterMark is the partition's high watermark.
	HighWaterMark int64
	// LastStableOffset is the partition's last stable offset, or the high
	// watermark when the broker does not report one.
	LastStableOffset int64
	// LogStartOffset is the first offset of the partition's log, -1 when
	// the broker does not report it.
	LogStartOffset int64
	// Err is the partition's error code as a [*PartitionError] (for
	// example one that wraps sarama.ErrOffsetOutOfRange when records were
	// deleted below the fetch offset), nil when the partition was read.
	// Records is then empty and Next is the fetch offset; the offsets
	// above are what the broker sent with the error (Kafka sends -1).
	Err error
}

// PartitionError is the error code a broker returned for one partition of
// a fetch. errors.Is(err, sarama.ErrOffsetOutOfRange) and the like work
// through it.
type PartitionError struct {
	Topic     string
	Partition int32
	// Offset is the fetch offset.
	Offset int64
	// Err is the broker's error code (a sarama.KError).
	Err error
}

func (e *PartitionError) Error() string {
	return fmt.Sprintf("fetch %s/%d at offset %d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}

// Unwrap returns the broker's error code.
func (e *PartitionError) Unwrap() error { return e.Err }

// Fetch reads the partitions of topic in offsets (partition -> fetch
// offset) once. Partitions are grouped by leader, one request per broker,
// brokers in parallel. The result has an entry for every partition of
// offsets unless an error is returned; check each [Partition.Err].
// ctx is checked before the requests are sent (sarama's requests take no
// context; opts.MaxWait bounds how long a broker holds one).
func Fetch(ctx context.Context, client sarama.Client, topic string, offsets map[int32]int64, opts Options) (map[int32]*Partition, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	parts := make([]int32, 0, len(offsets))
	for p := range offsets {
		parts = append(parts, p)
	}
	byLeader, epochs, err := leadersAndEpochs(client, topic, parts)
	if err != nil {
		return nil, err
	}
	return PerBroker(byLeader, func(b *sarama.Broker, ps []int32) (map[int32]*Partition, error) {
		return fetchBroker(client, b, topic, ps, offsets, epochs, opts)
	})
}

// PerBroker runs fetch for every broker of groups (a broker and what to
// ask it, such as its partitions), all at once, and merges the
// per-partition results. The first error wins; then nothing is returned.
func PerBroker[B comparable, T, R any](groups map[B]T, fetch func(B, T) (map[int32]R, error)) (map[int32]R, error) {
	out := map[int32]R{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for b, g := range groups {
		wg.Go(func() {
			res, err := fetch(b, g)
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
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// leaders groups parts by their leader, refreshing the metadata when a
// leader is unknown.
func leaders(client sarama.Client, topic string, parts []int32) (map[*sarama.Broker][]int32, error) {
	byLeader, _, err := leadersAndEpochs(client, topic, parts)
	return byLeader, err
}

// leadersAndEpochs is leaders that also returns the leader epoch of each
// partition as the client's metadata knows it (-1 when unknown).
func leadersAndEpochs(client sarama.Client, topic string, parts []int32) (map[*sarama.Broker][]int32, map[int32]int32, error) {
	byLeader := map[*sarama.Broker][]int32{}
	epochs := make(map[int32]int32, len(parts))
	for _, p := range parts {
		b, epoch, err := client.LeaderAndEpoch(topic, p)
		if err != nil {
			_ = client.RefreshMetadata(topic)
			return nil, nil, fmt.Errorf("find the leader of %s/%d: %w", topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
		epochs[p] = epoch
	}
	return byLeader, epochs, nil
}

// FetchVersion is the version of the Fetch requests sent: the newest one
// that only the partition's leader answers (see fetchBroker).
const FetchVersion = 10

func fetchBroker(client sarama.Client, b *sarama.Broker, topic string, parts []int32, offsets map[int32]int64, epochs map[int32]int32, opts Options) (map[int32]*Partition, error) {
	maxBytes := opts.MaxBytesPerPartition
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytesPerPartition
	}
	// Version 10, not 11: from version 11 on (KIP-392) a broker that is a
	// follower of the partition answers a consumer's fetch itself, from
	// its own log and with its own high watermark and last stable offset,
	// which lag the leader's. A fetch sent on stale metadata to a former
	// leader then returned an old end of the partition without an error,
	// and a strong catch-up took it for the end (stale ReadStream results
	// in the cluster fault test). Up to version 10 only the leader answers;
	// a follower answers NOT_LEADER_OR_FOLLOWER, which is retried after a
	// metadata refresh.
	req := &sarama.FetchRequest{
		Version:      FetchVersion,
		MaxWaitTime:  int32(opts.MaxWait / time.Millisecond),
		MinBytes:     1,
		MaxBytes:     MaxResponseBytes,
		Isolation:    opts.Isolation,
		SessionEpoch: -1, // a full fetch outside any fetch session
	}
	for _, p := range parts {
		// The leader epoch the metadata named (KIP-320): a broker that
		// still thinks it leads with an older epoch (resumed after a
		// pause, before it learned of the new leader) answers
		// UNKNOWN_LEADER_EPOCH, a newer leader FENCED_LEADER_EPOCH, both
		// retried after a metadata refresh, instead of serving its log.
		req.AddBlock(topic, p, offsets[p], maxBytes, epochs[p])
	}
	resp, err := b.Fetch(req)
	if err != nil {
		_ = b.Close() // the client reconnects on the next request
		_ = client.RefreshMetadata(topic)
		return nil, fmt.Errorf("fetch %s from broker %s: %w", topic, b.Addr(), err)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch %s from broker %s: %w", topic, b.Addr(), sarama.KError(resp.ErrorCode))
	}
	out := make(map[int32]*Partition, len(parts))
	n := 0
	for _, p := range parts {
		blk := resp.GetBlock(topic, p)
		if blk == nil {
			return nil, fmt.Errorf("fetch %s/%d from broker %s: the response has no data for the partition", topic, p, b.Addr())
		}
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			if Retriable(blk.Err) {
				_ = client.RefreshMetadata(topic)
			}
			r := newPartition(blk, offsets[p])
			r.Err = &PartitionError{Topic: topic, Partition: p, Offset: offsets[p], Err: blk.Err}
			out[p] = r
			continue
		}
		r := decode(blk, offsets[p], opts)
		n += len(r.Records)
		out[p] = r
	}
	if opts.OnResponse != nil {
		opts.OnResponse(n)
	}
	return out, nil
}

func newPartition(blk *sarama.FetchResponseBlock, from int64) *Partition {
	r := &Partition{Next: from, HighWaterMark: blk.HighWaterMarkOffset, LastStableOffset: blk.LastStableOffset, LogStartOffset: blk.LogStartOffset}
	if r.LastStableOffset < 0 {
		r.LastStableOffset = r.HighWaterMark
	}
	return r
}

// decode turns a partition's fetch response into records at or after from.
// For read_committed it drops the records of aborted transactions using
// the response's aborted-transaction list the way the Java consumer does:
// a producer's transactional records are dropped from the first offset of
// its aborted transaction until its next control marker.
func decode(blk *sarama.FetchResponseBlock, from int64, opts Options) *Partition {
	r := newPartition(blk, from)
	n := 0
	for _, rs := range blk.RecordsSet {
		if rs != nil && rs.RecordBatch != nil {
			n += len(rs.RecordBatch.Records)
		}
	}
	r.Records = make([]Record, 0, n)
	aborted := slices.Clone(blk.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b *sarama.AbortedTransaction) int { return cmpInt64(a.FirstOffset, b.FirstOffset) })
	abortedPIDs := map[int64]bool{}
	for _, rs := range blk.RecordsSet {
		if rs == nil {
			continue
		}
		if rs.MsgSet != nil {
			// Legacy (pre-0.11) messages: never written by kafkaes; kept
			// as header-less records so that readers report them.
			for _, mb := range rs.MsgSet.Messages {
				if mb == nil || mb.Msg == nil || mb.Offset < from {
					continue
				}
				r.Records = append(r.Records, Record{Offset: mb.Offset, Key: mb.Msg.Key, Value: mb.Msg.Value, Timestamp: mb.Msg.Timestamp, ProducerID: -1})
				r.Next = max(r.Next, mb.Offset+1)
			}
			continue
		}
		batch := rs.RecordBatch
		if batch == nil {
			continue
		}
		if batch.PartialTrailingRecord {
			break // an incomplete batch at the end of the response (sarama keeps none of its records); fetched again next time
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= batch.LastOffset() {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		r.Next = max(r.Next, batch.LastOffset()+1)
		if batch.Control {
			delete(abortedPIDs, batch.ProducerID)
			if opts.Markers && batch.LastOffset() >= from {
				abort := true
				if len(batch.Records) > 0 && batch.Records[0] != nil && len(batch.Records[0].Key) >= 4 {
					// Control record key: int16 version, int16 type (0 abort, 1 commit).
					k := batch.Records[0].Key
					abort = int16(k[2])<<8|int16(k[3]) == 0
				}
				r.Records = append(r.Records, Record{Offset: batch.FirstOffset, ProducerID: batch.ProducerID, Control: true, Abort: abort})
			}
			continue
		}
		if opts.Isolation == sarama.ReadCommitted && batch.IsTransactional && abortedPIDs[batch.ProducerID] {
			continue
		}
		for _, rec := range batch.Records {
			if rec == nil {
				continue
			}
			off := batch.FirstOffset + rec.OffsetDelta
			if off < from {
				continue
			}
			ts := batch.FirstTimestamp.Add(rec.TimestampDelta)
			if batch.LogAppendTime {
				ts = batch.MaxTimestamp
			}
			r.Records = append(r.Records, Record{Offset: off, Key: rec.Key, Value: rec.Value, Headers: rec.Headers, Timestamp: ts,
				ProducerID: batch.ProducerID, Transactional: batch.IsTransactional})
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
