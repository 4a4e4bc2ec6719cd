package kafkakeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// fetch reads the partitions in offsets once, retrying transient errors.
// The only partition error left in the result is sarama.ErrOffsetOutOfRange.
func (s *Store) fetch(ctx context.Context, offsets map[int32]int64, opts kafkafetch.Options) (map[int32]*kafkafetch.Partition, error) {
	opts.OnResponse = func(int) { s.fetches.Add(1) }
	if opts.MaxBytesPerPartition == 0 {
		opts.MaxBytesPerPartition = 1 << 20
	}
	var out map[int32]*kafkafetch.Partition
	err := s.retry(ctx, func() (err error) {
		out, err = kafkafetch.Fetch(ctx, s.client, s.topic, offsets, opts)
		if err != nil {
			return err
		}
		for _, r := range out {
			if r.Err != nil && !errors.Is(r.Err, sarama.ErrOffsetOutOfRange) {
				return r.Err
			}
		}
		return nil
	})
	if kafkaauth.Fatal(err) {
		return nil, denied(s.client, "read key topic "+s.topic, "Read", s.topic, err)
	}
	if err != nil {
		return nil, fmt.Errorf("kafkakeys: read key topic %s: %w", s.topic, err)
	}
	return out, nil
}

// ends returns the last stable offset (committed) or high watermark of
// every partition.
func (s *Store) ends(ctx context.Context, hw bool) (map[int32]int64, error) {
	iso := sarama.ReadCommitted
	if hw {
		iso = sarama.ReadUncommitted
	}
	var out map[int32]int64
	err := s.retry(ctx, func() (err error) {
		out, err = kafkafetch.ListOffsets(ctx, s.client, s.topic, s.parts, sarama.OffsetNewest, iso)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kafkakeys: end offsets of key topic %s: %w", s.topic, err)
	}
	return out, nil
}

// build indexes every partition from its start to its last stable offset.
func (s *Store) build(ctx context.Context) error {
	var starts map[int32]int64
	err := s.retry(ctx, func() (err error) {
		starts, err = kafkafetch.ListOffsets(ctx, s.client, s.topic, s.parts, sarama.OffsetOldest, sarama.ReadUncommitted)
		return err
	})
	if kafkaauth.Fatal(err) {
		return denied(s.client, "read key topic "+s.topic, "Describe", s.topic, err)
	}
	if err != nil {
		return fmt.Errorf("kafkakeys: start offsets of key topic %s: %w", s.topic, err)
	}
	for p, o := range starts {
		s.next[p] = o
	}
	start := time.Now()
	if err := s.catchUp(ctx, false); err != nil {
		return err
	}
	s.opts.logger.Debug("kafkakeys: key index built", slog.String("topic", s.topic), slog.Int("subjects", len(s.index)), slog.Duration("took", time.Since(start)))
	return nil
}

// catchUp indexes the topic up to its last stable offset, or (hw) up to
// its high watermark as of the call, waiting for transactions open there
// to end, so that every key acknowledged before the call is indexed.
func (s *Store) catchUp(ctx context.Context, hw bool) error {
	targets, err := s.ends(ctx, hw)
	if err != nil {
		return err
	}
	return s.catchUpTo(ctx, targets)
}

// catchUpTo indexes each partition until the next offset to index reaches
// its target, read committed.
func (s *Store) catchUpTo(ctx context.Context, targets map[int32]int64) error {
	s.catchMu.Lock()
	defer s.catchMu.Unlock()
	wait := time.Duration(0)
	for {
		offsets := map[int32]int64{}
		s.mu.Lock()
		for p, t := range targets {
			if s.next[p] < t {
				offsets[p] = s.next[p]
			}
		}
		s.mu.Unlock()
		if len(offsets) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kafkakeys: reading key topic %s up to offsets %v: %w", s.topic, targets, err)
		}
		res, err := s.fetch(ctx, offsets, kafkafetch.Options{Isolation: sarama.ReadCommitted, MaxWait: wait})
		if err != nil {
			return err
		}
		progress := false
		for p, r := range res {
			if r.Err != nil { // out of range: records deleted below us
				if err := s.restartAtLogStart(ctx, p); err != nil {
					return err
				}
				progress = true
				continue
			}
			s.mu.Lock()
			s.indexRecords(p, r)
			if r.Next > offsets[p] {
				progress = true
			}
			s.mu.Unlock()
		}
		if progress {
			wait = 0
		} else {
			// An open transaction holds the last stable offset below the
			// target: let the broker hold the next fetch a while.
			wait = 50 * time.Millisecond
		}
	}
}

func (s *Store) restartAtLogStart(ctx context.Context, p int32) error {
	starts, err := kafkafetch.ListOffsets(ctx, s.client, s.topic, []int32{p}, sarama.OffsetOldest, sarama.ReadUncommitted)
	if err != nil {
		return fmt.Errorf("kafkakeys: start offset of %s/%d: %w", s.topic, p, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if starts[p] <= s.next[p] {
		return fmt.Errorf("kafkakeys: offset %d of %s/%d is out of range, but the log starts at %d", s.next[p], s.topic, p, starts[p])
	}
	s.next[p] = starts[p]
	return nil
}

// indexRecords adds the records of one read-committed fetch to the
// index. s.mu is held.
func (s *Store) indexRecords(p int32, r *kafkafetch.Partition) {
	for _, rec := range r.Records {
		subject := string(rec.Key)
		cur, ok := s.index[subject]
		if ok && cur.partition == p && cur.offset >= rec.Offset {
			continue // already indexed (our own write)
		}
		if rec.Value == nil { // tombstone: erased
			id := uint64(0)
			for _, h := range rec.Headers {
				if h != nil && string(h.Key) == HeaderKeyID {
					id = parseID(h.Value)
				}
			}
			if id == 0 && ok && !cur.erased {
				id = cur.id
			}
			s.index[subject] = entry{partition: p, offset: rec.Offset, id: id, erased: true}
			s.cache.del(subject)
			if id != 0 {
				s.absent.put(absentKey{subject, id}, struct{}{})
			}
			continue
		}
		k, err := s.wrap.decode(subject, rec.Value)
		if err != nil {
			// The subject has a key this store cannot read: its fields
			// must fail to decrypt (an error), never look erased.
			s.skipped.Add(1)
			s.opts.logger.Warn("kafkakeys: a key record cannot be read", slog.String("topic", s.topic),
				slog.Int("partition", int(p)), slog.Int64("offset", rec.Offset), slog.Any("error", err))
			s.index[subject] = entry{partition: p, offset: rec.Offset, unreadable: err.Error()}
			s.cache.del(subject)
			continue
		}
		if ok && !cur.erased && cur.unreadable == "" && cur.id != k.ID {
			s.opts.logger.Warn("kafkakeys: a subject's key was replaced without an erasure; fields encrypted with the old key read as erased",
				slog.String("topic", s.topic), slog.String("subject", subject), slog.Int64("offset", rec.Offset))
		}
		s.index[subject] = entry{partition: p, offset: rec.Offset, id: k.ID}
		s.cache.put(subject, k)
	}
	s.next[p] = max(s.next[p], r.Next)
}

// fetchKey reads the key record e points at; found is false when it is no
// longer there (compacted away: a newer record of the subject exists).
func (s *Store) fetchKey(ctx context.Context, subject string, e entry) (k pii.Key, found bool, err error) {
	res, err := s.fetch(ctx, map[int32]int64{e.partition: e.offset}, kafkafetch.Options{Isolation: sarama.ReadCommitted, MaxBytesPerPartition: 64 << 10})
	if err != nil {
		return k, false, err
	}
	r := res[e.partition]
	if r == nil || r.Err != nil {
		return k, false, nil
	}
	for _, rec := range r.Records {
		if rec.Offset != e.offset {
			continue
		}
		if string(rec.Key) != subject || rec.Value == nil {
			return k, false, nil
		}
		k, err := s.wrap.decode(subject, rec.Value)
		if err != nil || k.ID != e.id {
			return k, false, fmt.Errorf("kafkakeys: the key record of subject %q at %s/%d:%d changed (%v); the key topic was rewritten", subject, s.topic, e.partition, e.offset, err)
		}
		return k, true, nil
	}
	return k, false, nil
}

// poll catches up every refresh interval until Close.
func (s *Store) poll() {
	defer close(s.done)
	ctxtime.Every(s.bg, s.opts.refresh, 30*time.Second, func(ctx context.Context) {
		if err := s.catchUp(ctx, false); err != nil && s.bg.Err() == nil {
			s.opts.logger.Warn("kafkakeys: reading the key topic failed; will retry", slog.String("topic", s.topic), slog.Any("error", err))
		}
	})
}

// retry runs f until it succeeds, fails with an error that is not
// transient, has been tried 10 times, or ctx is done; see kafkafetch.Retry.
func (s *Store) retry(ctx context.Context, f func() error) error {
	return kafkafetch.Retry(ctx, s.client, s.topic, f)
}
