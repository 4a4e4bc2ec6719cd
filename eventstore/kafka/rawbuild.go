package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/internal/rawfetch"
)

// rawFetcher is the fetcher of the index build (build.go) when the
// sarama configuration's connection settings carry over to franz-go
// (rawfetch.NewClient: TLS, SASL PLAIN and SCRAM). sarama decodes every
// record of a fetch response into its own structures, which was most of
// a start's CPU; rawFetcher sends the same read_committed Fetch requests
// (version 10, leaders only, outside any fetch session) through a
// franz-go client and walks the record batches itself
// (rawfetch.Batches: CRC checked, zstd decompressed with a pooled decoder,
// control batches and aborted transactions dropped as the Java consumer
// and internal/kafkafetch do). Responses it does not parse itself go to
// kgo.ProcessFetchPartition. Its results are those of fetcher.fetch with
// read_committed, except that the records it walked itself come parsed
// (partResult.parsed: offset, key and what parseRecord makes of the
// headers, all the index reads) instead of as records: parsing runs in
// the build's fetchers, in parallel, and no headers are kept.
type rawFetcher struct {
	kc    *kgo.Client
	lead  *rawfetch.Leaders
	topic string
	// refresh asks for the leaders again before the next fetch (after a
	// failure).
	mu      sync.Mutex
	refresh bool
	// counts are the numbers of records of each partition's last
	// response (plus an eighth), for the next one's slice.
	counts map[int32]int
	// wrap and failed are the sarama fetcher's (error wrapping, suspect
	// marking).
	f *fetcher
}

// newRawFetcher returns the raw fetcher of the store's topic, or nil when
// the store's configuration does not carry over to franz-go (the build
// then fetches through sarama).
func (s *Store) newRawFetcher() (*rawFetcher, error) {
	kc, ok, err := rawfetch.NewClient(s.addrs, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: client for %s: %w", s.topic, err)
	}
	if !ok {
		return nil, nil
	}
	return &rawFetcher{kc: kc, lead: rawfetch.NewLeaders(kc, s.topic), topic: s.topic, f: s.f, counts: map[int32]int{}}, nil
}

func (f *rawFetcher) close() { f.kc.Close() }

// fetch is fetcher.fetch with read_committed, without waiting.
func (f *rawFetcher) fetch(ctx context.Context, offsets map[int32]int64, maxBytes int32) (map[int32]*partResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := f.fetchAll(ctx, offsets, maxBytes)
	if err != nil {
		f.mu.Lock()
		f.refresh = true
		f.mu.Unlock()
		f.f.failed()
		return nil, f.f.wrap(saramaError(err))
	}
	return out, nil
}

func (f *rawFetcher) fetchAll(ctx context.Context, offsets map[int32]int64, maxBytes int32) (map[int32]*partResult, error) {
	f.mu.Lock()
	refresh := f.refresh
	f.refresh = false
	f.mu.Unlock()
	byLeader := map[int32]map[int32]int64{}
	for p, at := range offsets {
		id, err := f.lead.Leader(ctx, p, refresh)
		if err != nil {
			return nil, err
		}
		refresh = false // one metadata request answers for all partitions
		if byLeader[id] == nil {
			byLeader[id] = map[int32]int64{}
		}
		byLeader[id][p] = at
	}
	return kafkafetch.PerBroker(byLeader, func(id int32, offs map[int32]int64) (map[int32]*partResult, error) {
		return f.fetchBroker(ctx, id, offs, maxBytes)
	})
}

func (f *rawFetcher) fetchBroker(ctx context.Context, id int32, offsets map[int32]int64, maxBytes int32) (map[int32]*partResult, error) {
	resp, err := rawfetch.FetchCommitted(ctx, f.kc.Broker(int(id)), f.topic, offsets, 0, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from broker %d: %w", f.topic, id, err)
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("fetch %s from broker %d: %w", f.topic, id, sarama.KError(resp.ErrorCode))
	}
	out := make(map[int32]*partResult, len(offsets))
	for i := range resp.Topics {
		if resp.Topics[i].Topic != f.topic {
			continue
		}
		for j := range resp.Topics[i].Partitions {
			rp := &resp.Topics[i].Partitions[j]
			from, ok := offsets[rp.Partition]
			if !ok {
				continue
			}
			if rp.ErrorCode != 0 {
				return nil, &kafkafetch.PartitionError{Topic: f.topic, Partition: rp.Partition, Offset: from, Err: sarama.KError(rp.ErrorCode)}
			}
			r, err := f.decode(rp, from)
			if err != nil {
				return nil, fmt.Errorf("fetch %s/%d at offset %d: %w", f.topic, rp.Partition, from, err)
			}
			out[rp.Partition] = r
		}
	}
	for p := range offsets {
		if out[p] == nil {
			return nil, fmt.Errorf("fetch %s/%d from broker %d: the response has no data for the partition", f.topic, p, id)
		}
	}
	return out, nil
}

// decode turns a partition of a read_committed response into a
// partResult.
func (f *rawFetcher) decode(rp *kmsg.FetchResponseTopicPartition, from int64) (*partResult, error) {
	r := &partResult{next: from, hw: rp.HighWatermark, lso: rp.LastStableOffset}
	if r.lso < 0 {
		r.lso = r.hw
	}
	var hs headerScratch
	p := rp.Partition
	// As many records as the partition's last response had (responses
	// are of about fetchMaxBytes): the slice rarely grows.
	f.mu.Lock()
	r.parsed = make([]parsedRecord, 0, f.counts[p])
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.counts[p] = len(r.parsed) + len(r.parsed)/8
		f.mu.Unlock()
	}()
	r.bufs = new(rawfetch.Buffers)
	next, ok, err := rawfetch.BatchesInto(rp, from, r.bufs, func(x *rawfetch.Record) error {
		headers, ok := hs.of(x)
		if !ok {
			return rawfetch.ErrMalformed
		}
		if len(x.Key) == 0 {
			r.parsed = append(r.parsed, parsedRecord{offset: x.Offset})
			return nil
		}
		// Parsed here, by the build's fetchers in parallel, instead of
		// by the serial indexing.
		rec := record{offset: x.Offset, key: x.Key, value: x.Value, headers: headers, ts: x.Time(), producerID: -1}
		r.parsed = append(r.parsed, parsedRecord{offset: x.Offset, key: x.Key, p: parseRecord(f.topic, p, rec)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ok {
		r.next = max(next, from)
		return r, nil
	}
	// Batches compressed otherwise than with zstd, old formats, a bad
	// checksum: franz-go's parser handles them (and reports what is wrong).
	fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: from, IsolationLevel: kgo.ReadCommitted(),
		Topic: f.topic, Partition: rp.Partition}, rp, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil && len(fp.Records) == 0 {
		return nil, fp.Err
	}
	r.recs = make([]record, 0, len(fp.Records))
	for _, kr := range fp.Records {
		hs := make([]*sarama.RecordHeader, len(kr.Headers))
		for i, h := range kr.Headers {
			hs[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		}
		r.recs = append(r.recs, record{offset: kr.Offset, key: kr.Key, value: kr.Value, headers: hs, ts: kr.Timestamp,
			producerID: kr.ProducerID, txn: kr.Attrs.IsTransactional()})
	}
	r.next = max(next, from)
	return r, nil
}

// headerScratch holds the headers of one record at a time, for
// parseRecord, in memory reused from record to record: the headers, and
// pointers to them that stay valid until the headers' array grows.
type headerScratch struct {
	hs  []sarama.RecordHeader
	ptr []*sarama.RecordHeader
}

// of returns the headers of x, valid until the next call, ok=false when
// its header block does not parse.
func (s *headerScratch) of(x *rawfetch.Record) (hs []*sarama.RecordHeader, ok bool) {
	n := 0
	ok = x.Header(func(k, v []byte) bool {
		if n == len(s.hs) {
			s.hs = append(s.hs, sarama.RecordHeader{})
			s.hs = s.hs[:cap(s.hs)]
			s.ptr = s.ptr[:0]
			for i := range s.hs {
				s.ptr = append(s.ptr, &s.hs[i])
			}
		}
		s.hs[n] = sarama.RecordHeader{Key: k, Value: v}
		n++
		return true
	})
	return s.ptr[:n], ok
}

// saramaError turns franz-go's Kafka error codes in err into sarama's, for
// the error handling of the store (retries, authorization errors).
func saramaError(err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) && !errors.As(err, new(sarama.KError)) {
		return fmt.Errorf("%w (%v)", sarama.KError(ke.Code), err)
	}
	return err
}

// rawLoader returns the raw fetcher of dense loads, making it on the
// first call; nil when the configuration does not carry over to franz-go
// or the store is closed (loads then fetch through sarama).
func (s *Store) rawLoader() *rawFetcher {
	s.loadRawMu.Lock()
	defer s.loadRawMu.Unlock()
	if !s.loadRawDone {
		s.loadRawDone = true
		raw, err := s.newRawFetcher()
		if err != nil {
			s.opts.logger.Warn("kafka: loads of long streams fetch through sarama",
				slog.String("topic", s.topic), slog.Any("error", err))
		}
		s.loadRaw = raw
	}
	return s.loadRaw
}

// load reads partition p from offset from with read_uncommitted isolation
// (a load's offsets come from the index, which may be past the last
// stable offset) and returns copies of the data records at offsets for
// which want(offset, offset) holds, in offset order. Batches without such
// an offset (want(first, last) false) are neither decompressed nor
// parsed. ok is false when the response holds what rawfetch does not
// parse itself (another compression codec, an old format): then the
// caller fetches through sarama.
func (f *rawFetcher) load(ctx context.Context, p int32, from int64, maxBytes int32, want func(first, last int64) bool) (recs []record, ok bool, err error) {
	f.mu.Lock()
	refresh := f.refresh
	f.refresh = false
	f.mu.Unlock()
	fail := func(err error) ([]record, bool, error) {
		f.mu.Lock()
		f.refresh = true
		f.mu.Unlock()
		return nil, false, err
	}
	b, err := f.lead.Broker(ctx, p, refresh)
	if err != nil {
		return fail(err)
	}
	resp, err := rawfetch.FetchUncommitted(ctx, b, f.topic, map[int32]int64{p: from}, 0, maxBytes)
	if err != nil {
		return fail(err)
	}
	var rp *kmsg.FetchResponseTopicPartition
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Topic == f.topic && resp.Topics[i].Partitions[j].Partition == p {
				rp = &resp.Topics[i].Partitions[j]
			}
		}
	}
	switch {
	case resp.ErrorCode != 0:
		return fail(sarama.KError(resp.ErrorCode))
	case rp == nil:
		return fail(fmt.Errorf("fetch %s/%d: the response has no data for the partition", f.topic, p))
	case rp.ErrorCode != 0:
		return fail(sarama.KError(rp.ErrorCode))
	}
	var bufs rawfetch.Buffers
	defer bufs.Release()
	var a recordArena
	_, ok, err = rawfetch.BatchesWanted(rp, from, &bufs, want, func(x *rawfetch.Record) error {
		if !want(x.Offset, x.Offset) {
			return nil
		}
		rec, ok := a.record(x)
		if !ok {
			return rawfetch.ErrMalformed
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil || !ok {
		return nil, ok, err
	}
	return recs, true, nil
}

// recordArena holds the memory of the records a load copies out of a
// response: their bytes in chunks of arenaChunk and their headers in
// slabs, instead of three allocations per record. A record the caller
// keeps keeps its chunk alive (the read cache copies what it keeps).
type recordArena struct {
	buf  []byte
	hs   []sarama.RecordHeader
	ptrs []*sarama.RecordHeader
}

// arenaChunk is the size of a recordArena's byte chunks and, in
// headers, of its header slabs.
const arenaChunk = 32 << 10

// bytes returns a copy of b (nil for nil) whose capacity ends with it.
func (a *recordArena) bytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, max(arenaChunk, len(b)))
	}
	a.buf = append(a.buf, b...)
	return a.buf[len(a.buf)-len(b) : len(a.buf) : len(a.buf)]
}

// record returns x as a record in the arena's memory, ok=false when its
// header block does not parse.
func (a *recordArena) record(x *rawfetch.Record) (record, bool) {
	n := x.NumHeaders()
	if n < 0 || n > arenaChunk/64 {
		return record{}, false
	}
	if cap(a.hs)-len(a.hs) < n {
		a.hs = make([]sarama.RecordHeader, 0, arenaChunk/64)
		a.ptrs = make([]*sarama.RecordHeader, 0, arenaChunk/64)
	}
	h0 := len(a.hs)
	ok := x.Header(func(k, v []byte) bool {
		if len(a.hs) == cap(a.hs) {
			return false // more headers than the record said
		}
		a.hs = append(a.hs, sarama.RecordHeader{Key: a.bytes(k), Value: a.bytes(v)})
		a.ptrs = append(a.ptrs, &a.hs[len(a.hs)-1])
		return true
	})
	if !ok || len(a.hs)-h0 != n {
		return record{}, false
	}
	return record{offset: x.Offset, key: a.bytes(x.Key), value: a.bytes(x.Value), ts: x.Time(), producerID: -1,
		headers: a.ptrs[h0:len(a.ptrs):len(a.ptrs)]}, true
}
