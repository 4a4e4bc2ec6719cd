package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
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

// missing returns the error of a topic that does not exist; it wraps
// sarama.ErrUnknownTopicOrPartition, so that a caller looking at many
// topics can tell a topic deleted since it was listed from a failure.
func (r *reader) missing(err error) error {
	return fmt.Errorf("topic %q does not exist (use --topic; 'kafkaes topics' lists the topics): %w", r.topic, err)
}

// partitions returns the topic's partitions, or an error that says the
// topic does not exist.
func (r *reader) partitions() ([]int32, error) {
	if err := r.client.RefreshMetadata(r.topic); err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, r.missing(err)
		}
		if kafkaauth.Fatal(err) {
			// Describe is enough to see the topic, but every command that
			// looks at one reads it: ask for Read (which implies Describe).
			return nil, r.denied(err, "read the metadata of", "Read")
		}
		return nil, fmt.Errorf("read the metadata of topic %q: %w", r.topic, err)
	}
	ps, err := r.client.Partitions(r.topic)
	if err != nil {
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return nil, r.missing(err)
		}
		if kafkaauth.Fatal(err) {
			return nil, r.denied(err, "list the partitions of", "Read")
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
// bounds returns the topic's partitions and, per partition, the log start
// offset and the end (the last stable offset: read_committed), the range
// a whole-topic read covers.
func (r *reader) bounds(ctx context.Context) (parts []int32, start, end map[int32]int64, err error) {
	if parts, err = r.partitions(); err != nil {
		return nil, nil, nil, err
	}
	if start, err = r.offsets(ctx, parts, sarama.OffsetOldest); err != nil {
		return nil, nil, nil, err
	}
	if end, err = r.offsets(ctx, parts, sarama.OffsetNewest); err != nil {
		return nil, nil, nil, err
	}
	return parts, start, end, nil
}

func (r *reader) offsets(ctx context.Context, parts []int32, which int64) (map[int32]int64, error) {
	return withRetry(ctx, func() (map[int32]int64, error) {
		offs, err := kafkafetch.ListOffsets(ctx, r.client, r.topic, parts, which, sarama.ReadCommitted)
		return offs, r.denied(err, "list the offsets of", "Describe")
	})
}

// denied turns an authorization error of a request on the reader's topic
// into an error naming the ACL operation op the request needs and the
// kafka-acls.sh command that allows it; other errors are unchanged.
func (r *reader) denied(err error, what, op string) error {
	if !kafkaauth.Fatal(err) {
		return err
	}
	return kafkaauth.Wrap(err, r.client.Config(), fmt.Sprintf("%s topic %q", what, r.topic), op, kafkaauth.Topic, r.topic, false)
}

// fetch reads the partitions in from (partition -> offset) once,
// read_committed, one request per leader, leaders in parallel. A partition
// error fails the fetch; an offset out of range is an *outOfRangeError.
func (r *reader) fetch(ctx context.Context, from map[int32]int64) (map[int32]*kafkafetch.Partition, error) {
	opts := kafkafetch.Options{Isolation: sarama.ReadCommitted, MaxWait: r.maxWait, MaxBytesPerPartition: r.maxBytes}
	return withRetry(ctx, func() (map[int32]*kafkafetch.Partition, error) {
		res, err := kafkafetch.Fetch(ctx, r.client, r.topic, from, opts)
		if err != nil {
			return nil, r.denied(err, "read", "Read")
		}
		for _, p := range sortedKeys(res) {
			if err := res[p].Err; errors.Is(err, sarama.ErrOffsetOutOfRange) {
				return nil, &outOfRangeError{partition: p, offset: from[p]}
			} else if err != nil {
				return nil, r.denied(err, "read", "Read")
			}
		}
		return res, nil
	})
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
			for _, rc := range f.Records {
				if to != nil && rc.Offset >= to[p] {
					break
				}
				if err := fn(rec{partition: p, offset: rc.Offset, key: rc.Key, value: rc.Value, headers: rc.Headers, ts: rc.Timestamp}); err != nil {
					return err
				}
			}
			if f.Next > next[p] {
				progressed = true
				next[p] = f.Next
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
		return kafkafetch.Retriable(err)
	}
	return true // network errors
}
