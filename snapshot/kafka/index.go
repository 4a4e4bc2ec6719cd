package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/snapshot"
)

// record is one data record from a fetch.
type record struct {
	offset     int64
	key, value []byte
	headers    []*sarama.RecordHeader
	ts         time.Time
}

// partResult is what a fetch returned for one partition.
type partResult struct {
	recs []record // records at or after the fetch offset, in offset order
	next int64    // the offset to fetch next
	hw   int64    // the partition's high watermark
	// outOfRange is set when the fetch offset is no longer in the log
	// (records deleted below it); recs is then empty.
	outOfRange bool
}

// fetch reads the partitions in offsets (partition -> offset) without
// waiting for new data (the client's broker connections are shared, and a
// long poll would hold up the requests queued behind it).
func (s *Store) fetch(ctx context.Context, offsets map[int32]int64, maxBytes int32) (map[int32]*partResult, error) {
	var out map[int32]*partResult
	err := s.retry(ctx, func() (err error) {
		out, err = s.fetchOnce(ctx, offsets, maxBytes)
		return err
	})
	return out, err
}

func (s *Store) fetchOnce(ctx context.Context, offsets map[int32]int64, maxBytes int32) (map[int32]*partResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	byLeader := map[*sarama.Broker][]int32{}
	for p := range offsets {
		b, err := s.client.Leader(s.topic, p)
		if err != nil {
			_ = s.client.RefreshMetadata(s.topic)
			return nil, fmt.Errorf("snapshot/kafka: leader of %s/%d: %w", s.topic, p, err)
		}
		byLeader[b] = append(byLeader[b], p)
	}
	out := make(map[int32]*partResult, len(offsets))
	for b, parts := range byLeader {
		req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 0, MinBytes: 1, MaxBytes: 64 << 20,
			Isolation: sarama.ReadUncommitted, SessionEpoch: -1}
		for _, p := range parts {
			req.AddBlock(s.topic, p, offsets[p], maxBytes, -1)
		}
		s.fetches.Add(1)
		resp, err := b.Fetch(req)
		if err != nil {
			_ = b.Close() // the client reconnects on the next request
			_ = s.client.RefreshMetadata(s.topic)
			return nil, fmt.Errorf("snapshot/kafka: fetch %s from broker %s: %w", s.topic, b.Addr(), err)
		}
		if resp.ErrorCode != 0 {
			return nil, fmt.Errorf("snapshot/kafka: fetch %s from broker %s: %w", s.topic, b.Addr(), sarama.KError(resp.ErrorCode))
		}
		for _, p := range parts {
			blk := resp.GetBlock(s.topic, p)
			if blk == nil {
				return nil, fmt.Errorf("snapshot/kafka: fetch %s/%d from broker %s: the response has no data for the partition", s.topic, p, b.Addr())
			}
			if errors.Is(blk.Err, sarama.ErrOffsetOutOfRange) {
				out[p] = &partResult{next: offsets[p], hw: blk.HighWaterMarkOffset, outOfRange: true}
				continue
			}
			if !errors.Is(blk.Err, sarama.ErrNoError) {
				_ = s.client.RefreshMetadata(s.topic)
				return nil, fmt.Errorf("snapshot/kafka: fetch %s/%d at offset %d: %w", s.topic, p, offsets[p], blk.Err)
			}
			out[p] = parseBlock(blk, offsets[p])
		}
	}
	return out, nil
}

// parseBlock returns the data records of a partition's fetch response at or
// after from, skipping control batches.
func parseBlock(blk *sarama.FetchResponseBlock, from int64) *partResult {
	r := &partResult{next: from, hw: blk.HighWaterMarkOffset}
	for _, rs := range blk.RecordsSet {
		if rs == nil {
			continue
		}
		if rs.MsgSet != nil { // legacy messages: not written by this package
			for _, mb := range rs.MsgSet.Messages {
				if mb == nil || mb.Msg == nil || mb.Offset < from {
					continue
				}
				r.recs = append(r.recs, record{offset: mb.Offset, key: mb.Msg.Key, value: mb.Msg.Value, ts: mb.Msg.Timestamp})
				r.next = max(r.next, mb.Offset+1)
			}
			continue
		}
		batch := rs.RecordBatch
		if batch == nil || (batch.PartialTrailingRecord && len(batch.Records) == 0) {
			break
		}
		if !batch.Control {
			for _, rec := range batch.Records {
				if rec == nil {
					continue
				}
				off := batch.FirstOffset + rec.OffsetDelta
				if off < from {
					continue
				}
				ts := batch.FirstTimestamp.Add(rec.TimestampDelta)
				r.recs = append(r.recs, record{offset: off, key: rec.Key, value: rec.Value, headers: rec.Headers, ts: ts})
			}
		}
		if !batch.PartialTrailingRecord {
			r.next = max(r.next, batch.LastOffset()+1)
		} else if n := len(r.recs); n > 0 {
			r.next = max(r.next, r.recs[n-1].offset+1)
		}
	}
	return r
}

// decode turns a record into a snapshot; it never panics on bad bytes.
func decode(rec record) (snapshot.Snapshot, error) {
	snap := snapshot.Snapshot{StreamID: string(rec.key), Data: rec.value, TakenAt: rec.ts.UTC()}
	var haveVersion bool
	for _, h := range rec.headers {
		if h == nil {
			continue
		}
		switch string(h.Key) {
		case HeaderVersion:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil || v < 1 {
				return snapshot.Snapshot{}, fmt.Errorf("%w: header %s=%q is not a version >= 1", ErrCorruptSnapshot, HeaderVersion, h.Value)
			}
			snap.Version, haveVersion = v, true
		case HeaderType:
			snap.Type = string(h.Value)
		case HeaderSchemaVersion:
			v, err := strconv.Atoi(string(h.Value))
			if err != nil {
				return snapshot.Snapshot{}, fmt.Errorf("%w: header %s=%q is not an integer", ErrCorruptSnapshot, HeaderSchemaVersion, h.Value)
			}
			snap.SchemaVersion = v
		case HeaderEventID:
			snap.EventID = string(h.Value)
		case HeaderTime:
			t, err := time.Parse(time.RFC3339Nano, string(h.Value))
			if err != nil {
				return snapshot.Snapshot{}, fmt.Errorf("%w: header %s=%q is not an RFC 3339 time", ErrCorruptSnapshot, HeaderTime, h.Value)
			}
			snap.TakenAt = t.UTC()
		}
	}
	switch {
	case !haveVersion:
		return snapshot.Snapshot{}, fmt.Errorf("%w: no %s header", ErrCorruptSnapshot, HeaderVersion)
	case snap.Type == "":
		return snapshot.Snapshot{}, fmt.Errorf("%w: no %s header", ErrCorruptSnapshot, HeaderType)
	case snap.StreamID == "":
		return snapshot.Snapshot{}, fmt.Errorf("%w: empty key (stream ID)", ErrCorruptSnapshot)
	}
	if snap.Data == nil {
		snap.Data = []byte{}
	}
	return snap, nil
}

// apply records that the stream's latest snapshot is at l. Within a
// partition a later offset wins (as compaction decides); across partitions
// the higher version wins. s.mu is held.
func (s *Store) apply(stream string, l loc) {
	cur, ok := s.index[stream]
	if ok && (cur.partition == l.partition && cur.offset >= l.offset || cur.partition != l.partition && cur.version > l.version) {
		return
	}
	s.index[stream] = l
}

// index adds the records of one fetch to the index. s.mu is held.
func (s *Store) indexRecords(p int32, r *partResult) {
	for _, rec := range r.recs {
		stream := string(rec.key)
		if rec.value == nil { // tombstone
			if cur, ok := s.index[stream]; ok && cur.partition == p && cur.offset < rec.offset {
				delete(s.index, stream)
			}
			continue
		}
		snap, err := decode(rec)
		if err != nil {
			s.skipped.Add(1)
			s.opts.logger.Warn("snapshot/kafka: skipping a record that is not a snapshot",
				slog.String("topic", s.topic), slog.Int("partition", int(p)), slog.Int64("offset", rec.offset), slog.Any("error", err))
			continue
		}
		s.apply(stream, loc{partition: p, offset: rec.offset, version: snap.Version})
	}
	s.next[p] = max(s.next[p], r.next)
}

// build reads every partition from its start to its high watermark.
func (s *Store) build(ctx context.Context) error {
	target := map[int32]int64{}
	var remaining int64
	for _, p := range s.parts {
		oldest, err := s.offset(ctx, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("snapshot/kafka: start offset of %s/%d: %w", s.topic, p, err)
		}
		hw, err := s.offset(ctx, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("snapshot/kafka: end offset of %s/%d: %w", s.topic, p, err)
		}
		s.next[p] = oldest
		if hw > oldest {
			target[p] = hw
			remaining += hw - oldest
		}
	}
	start, lastLog := time.Now(), time.Now()
	var records int64
	for len(target) > 0 {
		offsets := map[int32]int64{}
		for p := range target {
			offsets[p] = s.next[p]
		}
		res, err := s.fetch(ctx, offsets, 4<<20)
		if err != nil {
			return fmt.Errorf("snapshot/kafka: build the index of topic %s: %w", s.topic, err)
		}
		s.mu.Lock()
		for p, r := range res {
			if r.outOfRange { // records deleted under us: restart from the new log start
				s.mu.Unlock()
				oldest, err := s.offset(ctx, p, sarama.OffsetOldest)
				s.mu.Lock()
				if err != nil || oldest <= s.next[p] {
					s.mu.Unlock()
					return fmt.Errorf("snapshot/kafka: build the index of topic %s: offset %d of partition %d is out of range (log start %d): %v", s.topic, s.next[p], p, oldest, err)
				}
				s.next[p] = oldest
				continue
			}
			records += int64(len(r.recs))
			s.indexRecords(p, r)
			if s.next[p] >= target[p] || r.next == offsets[p] { // done, or nothing more to fetch
				delete(target, p)
			}
		}
		remaining = 0
		for p, hw := range target {
			remaining += hw - s.next[p]
		}
		streams := len(s.index)
		s.mu.Unlock()
		if s.opts.progress != nil {
			s.opts.progress(Progress{Records: records, Remaining: remaining, Streams: streams})
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			s.opts.logger.Info("snapshot/kafka: building the snapshot index",
				slog.String("topic", s.topic), slog.Int64("records", records), slog.Int64("remaining_offsets", remaining), slog.Int("streams", streams))
		}
	}
	s.opts.logger.Debug("snapshot/kafka: snapshot index built", slog.String("topic", s.topic),
		slog.Int64("records", records), slog.Int("streams", s.Len()), slog.Duration("took", time.Since(start)))
	return nil
}

// catchUp indexes every partition up to its high watermark as of the
// fetch.
func (s *Store) catchUp(ctx context.Context) error {
	s.catchMu.Lock()
	defer s.catchMu.Unlock()
	for {
		s.mu.RLock()
		offsets := make(map[int32]int64, len(s.parts))
		for _, p := range s.parts {
			offsets[p] = s.next[p]
		}
		s.mu.RUnlock()
		res, err := s.fetch(ctx, offsets, 4<<20)
		if err != nil {
			return err
		}
		more := false
		for p, r := range res {
			if r.outOfRange {
				oldest, err := s.offset(ctx, p, sarama.OffsetOldest)
				if err != nil {
					return fmt.Errorf("snapshot/kafka: start offset of %s/%d: %w", s.topic, p, err)
				}
				s.mu.Lock()
				if oldest > s.next[p] {
					s.next[p] = oldest
					more = true
				}
				s.mu.Unlock()
			}
		}
		s.mu.Lock()
		for p, r := range res {
			if r.outOfRange {
				continue
			}
			s.indexRecords(p, r)
			if r.next > offsets[p] && s.next[p] < r.hw {
				more = true
			}
		}
		s.mu.Unlock()
		if !more {
			return nil
		}
	}
}

// poll catches up every refresh interval until Close.
func (s *Store) poll() {
	defer close(s.done)
	if s.opts.refresh <= 0 {
		<-s.bg.Done()
		return
	}
	t := time.NewTicker(s.opts.refresh)
	defer t.Stop()
	for {
		select {
		case <-s.bg.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.bg, 30*time.Second)
		if err := s.catchUp(ctx); err != nil && s.bg.Err() == nil {
			s.opts.logger.Warn("snapshot/kafka: polling the snapshot topic failed; will retry",
				slog.String("topic", s.topic), slog.Any("error", err))
		}
		cancel()
	}
}

// offset asks for the oldest or newest offset of partition p, retrying
// transient errors.
func (s *Store) offset(ctx context.Context, p int32, which int64) (int64, error) {
	var off int64
	err := s.retry(ctx, func() (err error) {
		off, err = s.client.GetOffset(s.topic, p, which)
		return err
	})
	return off, err
}
