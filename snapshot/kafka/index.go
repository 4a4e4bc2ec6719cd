package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/snapshot"
)

// fetch reads the partitions in offsets (partition -> offset), read
// uncommitted (snapshots are not written in transactions), without waiting
// for new data (the client's broker connections are shared, and a long
// poll would hold up the requests queued behind it). The only partition
// error left in the result is sarama.ErrOffsetOutOfRange: the fetch offset
// is no longer in the log (records deleted below it).
func (s *Store) fetch(ctx context.Context, offsets map[int32]int64, maxBytes int32) (map[int32]*kafkafetch.Partition, error) {
	opts := kafkafetch.Options{MaxBytesPerPartition: maxBytes, OnResponse: func(int) { s.fetches.Add(1) }}
	var out map[int32]*kafkafetch.Partition
	err := s.retry(ctx, func() (err error) {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err = kafkafetch.Fetch(ctx, s.client, s.topic, offsets, opts)
		if err != nil {
			return fmt.Errorf("snapshot/kafka: %w", err)
		}
		for _, r := range out {
			if r.Err != nil && !errors.Is(r.Err, sarama.ErrOffsetOutOfRange) {
				return fmt.Errorf("snapshot/kafka: %w", r.Err)
			}
		}
		return nil
	})
	return out, err
}

// decode turns a record into a snapshot; it never panics on bad bytes.
func decode(rec kafkafetch.Record) (snapshot.Snapshot, error) {
	snap := snapshot.Snapshot{StreamID: string(rec.Key), Data: rec.Value, TakenAt: rec.Timestamp.UTC()}
	var haveVersion bool
	for _, h := range rec.Headers {
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
func (s *Store) indexRecords(p int32, r *kafkafetch.Partition) {
	for _, rec := range r.Records {
		stream := string(rec.Key)
		if rec.Value == nil { // tombstone
			if cur, ok := s.index[stream]; ok && cur.partition == p && cur.offset < rec.Offset {
				delete(s.index, stream)
			}
			continue
		}
		snap, err := decode(rec)
		if err != nil {
			s.skipped.Add(1)
			s.opts.logger.Warn("snapshot/kafka: skipping a record that is not a snapshot",
				slog.String("topic", s.topic), slog.Int("partition", int(p)), slog.Int64("offset", rec.Offset), slog.Any("error", err))
			continue
		}
		s.apply(stream, loc{partition: p, offset: rec.Offset, version: snap.Version})
	}
	s.next[p] = max(s.next[p], r.Next)
}

// build reads every partition from its start to its high watermark.
func (s *Store) build(ctx context.Context) error {
	target := map[int32]int64{}
	var remaining int64
	for _, p := range s.parts {
		oldest, err := s.offset(ctx, p, sarama.OffsetOldest)
		if err != nil {
			return s.readErr(fmt.Sprintf("start offset of %s/%d", s.topic, p), err)
		}
		hw, err := s.offset(ctx, p, sarama.OffsetNewest)
		if err != nil {
			return s.readErr(fmt.Sprintf("end offset of %s/%d", s.topic, p), err)
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
			return s.readErr("build the index of topic "+s.topic, err)
		}
		s.mu.Lock()
		for p, r := range res {
			if r.Err != nil { // out of range, records deleted under us: restart from the new log start
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
			records += int64(len(r.Records))
			s.indexRecords(p, r)
			if s.next[p] >= target[p] || r.Next == offsets[p] { // done, or nothing more to fetch
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
			if r.Err != nil { // out of range
				oldest, err := s.offset(ctx, p, sarama.OffsetOldest)
				if err != nil {
					return s.readErr(fmt.Sprintf("start offset of %s/%d", s.topic, p), err)
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
			if r.Err != nil {
				continue
			}
			s.indexRecords(p, r)
			if r.Next > offsets[p] && s.next[p] < r.HighWaterMark {
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
	ctxtime.Every(s.bg, s.opts.refresh, 30*time.Second, func(ctx context.Context) {
		if err := s.catchUp(ctx); err != nil && s.bg.Err() == nil {
			s.opts.logger.Warn("snapshot/kafka: polling the snapshot topic failed; will retry",
				slog.String("topic", s.topic), slog.Any("error", err))
		}
	})
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

// readErr prefixes err with what; a denied request becomes an
// authorization error for Read on the topic.
func (s *Store) readErr(what string, err error) error {
	if kafkaauth.Fatal(err) {
		return denied(s.client, what, "Read", s.topic, err)
	}
	return fmt.Errorf("snapshot/kafka: %s: %w", what, err)
}
