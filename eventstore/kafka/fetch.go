package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/internal/rawfetch"
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
	// parsed, instead of recs, are the records of a raw fetch of the
	// index build (rawbuild.go), already parsed for the index; nil
	// otherwise.
	parsed []parsedRecord
	// bufs, when set, hold the decompressed batches parsed's keys point
	// into: the build releases them once the records are indexed (the
	// index copies what it keeps).
	bufs *rawfetch.Buffers
}

// parsedRecord is a committed record as the index build's raw fetch
// hands it to the index: its offset, its key (empty for a key-less
// record, which the index only counts) and what parseRecord made of it.
type parsedRecord struct {
	offset int64
	key    []byte
	p      parsed
}

// fetcher issues raw fetch requests on one sarama client (through
// internal/kafkafetch). Raw fetches give what the sarama consumer hides: the
// last stable offset, control markers and the producers of records, which
// the conflict scan needs.
type fetcher struct {
	client sarama.Client
	topic  string
	// onRecords, when set, is called with the number of records decoded
	// from every response (tests count the cost of loads with it).
	onRecords func(n int)
	// onError, when set, is called when a fetch or offset listing fails
	// (the store then suspects that a broker went away).
	onError func()
}

// fetchMaxBytes is the per-partition byte limit of a fetch. Kafka returns at
// least the first batch even when it is larger.
const fetchMaxBytes = 1 << 20

// fetch reads the partitions in offsets (partition -> fetch offset) with the
// given isolation, waiting up to maxWait for data. Partitions are grouped by
// leader, one request per broker, brokers in parallel. maxBytes limits each
// partition's response. read_uncommitted results include the transaction
// markers; read_committed ones drop them and the aborted records.
func (f *fetcher) fetch(ctx context.Context, offsets map[int32]int64, iso sarama.IsolationLevel, maxWait time.Duration, maxBytes int32) (map[int32]*partResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := kafkafetch.Fetch(ctx, f.client, f.topic, offsets, kafkafetch.Options{Isolation: iso, MaxWait: maxWait,
		MaxBytesPerPartition: maxBytes, Markers: iso == sarama.ReadUncommitted, OnResponse: f.onRecords})
	if err != nil {
		f.failed()
		return nil, f.wrap(err)
	}
	out := make(map[int32]*partResult, len(res))
	for p, pr := range res {
		if pr.Err != nil {
			f.failed()
			return nil, f.wrap(pr.Err)
		}
		r := &partResult{recs: make([]record, len(pr.Records)), next: pr.Next, hw: pr.HighWaterMark, lso: pr.LastStableOffset}
		for i, x := range pr.Records {
			r.recs[i] = record{offset: x.Offset, key: x.Key, value: x.Value, headers: x.Headers, ts: x.Timestamp,
				producerID: x.ProducerID, txn: x.Transactional, control: x.Control, abort: x.Abort}
		}
		out[p] = r
	}
	return out, nil
}

// wrap prefixes err with "kafka: ", and turns a denied request into an
// [*AuthorizationError] for Read on the topic (reads and offset listings
// need Read).
func (f *fetcher) wrap(err error) error {
	if kafkaauth.Fatal(err) {
		return kafkaauth.Wrap(err, f.client.Config(), "kafka: read topic "+f.topic, "Read", kafkaauth.Topic, f.topic, false)
	}
	return fmt.Errorf("kafka: %w", err)
}

func (f *fetcher) failed() {
	if f.onError != nil {
		f.onError()
	}
}

// listOffsets asks the leaders for an offset of every partition: with
// sarama.OffsetNewest the last stable offset (read_committed isolation) or
// the high watermark (read_uncommitted); with sarama.OffsetOldest the log
// start.
func (f *fetcher) listOffsets(ctx context.Context, parts []int32, which int64, iso sarama.IsolationLevel) (map[int32]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := kafkafetch.ListOffsets(ctx, f.client, f.topic, parts, which, iso)
	if err != nil {
		f.failed()
		return nil, f.wrap(err)
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
	if kafkaauth.Fatal(err) {
		return false // a missing ACL or bad credentials do not heal
	}
	if kafkafetch.Retriable(err) {
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
