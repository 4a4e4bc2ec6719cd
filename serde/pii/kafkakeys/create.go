package kafkakeys

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// createAttempts bounds the rounds of create: a round is lost only to a
// candidate at a lower offset that then aborted.
const createAttempts = 20

// create writes a candidate key for subject and commits it unless another
// candidate for the subject precedes it in the partition (the conflict
// scan, see the package doc); then it adopts that one once committed.
func (s *Store) create(ctx context.Context, subject string) (pii.Key, error) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	p := s.partition(subject)
	for attempt := 0; attempt < createAttempts; attempt++ {
		if k, ok, err := s.lookup(ctx, subject, 0); ok || err != nil {
			return k, err
		}
		// The index and the offset it covers, read together: every
		// committed record below x is indexed, so a committed key of the
		// subject below x would have been found above.
		s.mu.Lock()
		x := s.next[p]
		if e, ok := s.index[subject]; ok && !e.erased {
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		k := pii.NewKey()
		msg := &sarama.ProducerMessage{Topic: s.topic, Partition: p, Key: sarama.StringEncoder(subject), Value: sarama.ByteEncoder(s.wrap.encode(subject, k))}
		rival := int64(-1)
		off, err := s.inTxn(ctx, msg, func(off int64) (bool, error) {
			at, err := s.scan(ctx, p, x, off, subject)
			rival = at
			return at < 0, err
		})
		if err != nil {
			return pii.Key{}, fmt.Errorf("kafkakeys: create the key of subject %q: %w", subject, err)
		}
		if rival < 0 {
			s.mu.Lock()
			if cur, ok := s.index[subject]; !ok || cur.partition != p || cur.offset < off {
				s.index[subject] = entry{partition: p, offset: off, id: k.ID}
			}
			s.cache.put(subject, k)
			s.mu.Unlock()
			return k, nil
		}
		// Another candidate came first: wait for its transaction to end;
		// if it committed, the next round finds it in the index.
		if err := s.catchUpTo(ctx, map[int32]int64{p: rival + 1}); err != nil {
			return pii.Key{}, err
		}
	}
	return pii.Key{}, fmt.Errorf("kafkakeys: create the key of subject %q: lost %d rounds to other candidates that then aborted; try again", subject, createAttempts)
}

// scan reads [from, to) of partition p read uncommitted and returns the
// offset of a candidate key of subject there (open, committed or aborted)
// that no tombstone of the subject follows, or -1.
func (s *Store) scan(ctx context.Context, p int32, from, to int64, subject string) (int64, error) {
	rival := int64(-1)
	for from < to {
		res, err := s.fetch(ctx, map[int32]int64{p: from}, kafkafetch.Options{Isolation: sarama.ReadUncommitted})
		if err != nil {
			return -1, err
		}
		r := res[p]
		if r.Err != nil {
			return -1, fmt.Errorf("kafkakeys: scan %s/%d from %d: %w", s.topic, p, from, r.Err)
		}
		for _, rec := range r.Records {
			if rec.Offset >= to {
				return rival, nil
			}
			if string(rec.Key) != subject {
				continue
			}
			if rec.Value == nil {
				rival = -1
			} else {
				rival = rec.Offset
			}
		}
		if r.Next <= from {
			return -1, fmt.Errorf("kafkakeys: scan %s/%d stopped at %d before the store's own record at %d; the broker returned nothing", s.topic, p, from, to)
		}
		from = r.Next
	}
	return rival, nil
}

// inTxn writes msg in a transaction of its own and, after decide (nil:
// always commit) has seen the record's offset, commits or aborts it. It
// returns the offset; err is nil when the transaction was committed or
// aborted as decided. A failed commit leaves the outcome unknown (an
// error); the producer is then replaced.
func (s *Store) inTxn(ctx context.Context, msg *sarama.ProducerMessage, decide func(off int64) (bool, error)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.producer.BeginTxn(); err != nil {
		return 0, s.txnFailed("begin a transaction", err)
	}
	_, off, err := s.producer.SendMessage(msg)
	if err != nil {
		_ = s.producer.AbortTxn()
		return 0, s.txnFailed("write to key topic "+s.topic, err)
	}
	commit := true
	if decide != nil {
		if commit, err = decide(off); err != nil {
			if aerr := s.producer.AbortTxn(); aerr != nil {
				return 0, errors.Join(err, s.txnFailed("abort", aerr))
			}
			return 0, err
		}
	}
	if !commit {
		if err := s.producer.AbortTxn(); err != nil {
			return 0, s.txnFailed("abort", err)
		}
		return off, nil
	}
	if err := s.producer.CommitTxn(); err != nil {
		_ = s.producer.AbortTxn()
		return 0, s.txnFailed("commit (the key may or may not be stored; retry)", err)
	}
	return off, nil
}

// txnFailed describes a failed transaction step and replaces the producer
// when sarama says it can no longer be used.
func (s *Store) txnFailed(what string, err error) error {
	if s.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 || s.producer.TxnStatus()&sarama.ProducerTxnFlagAbortableError != 0 {
		_ = s.producer.Close()
		_ = s.pclient.Close()
		if perr := s.newProducer(); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	if kafkaauth.Fatal(err) {
		return s.deniedTxn(err, s.client.Config(), what)
	}
	return fmt.Errorf("kafkakeys: %s: %w", what, err)
}
