package kafkakeys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// ErrClosed means the store was closed.
var ErrClosed = errors.New("kafkakeys: store closed")

// Store is a [pii.KeyStore] on a compacted Kafka topic. Create it with
// [New]; it is safe for concurrent use. Close it when done (the sarama
// client passed to New stays open: it is the caller's).
type Store struct {
	client   sarama.Client // the caller's: reads, metadata
	pclient  sarama.Client // ours: the transactional producer's
	producer sarama.SyncProducer
	topic    string
	parts    []int32
	opts     options
	wrap     *wrapper // nil: keys in the clear

	mu     sync.Mutex
	index  map[string]entry
	next   map[int32]int64 // next offset to index (read_committed), per partition
	cache  *lru[string, pii.Key]
	absent *lru[absentKey, struct{}] // (subject, key ID) known not to be in the topic

	catchMu sync.Mutex // one catch-up at a time
	txMu    sync.Mutex // one transaction at a time

	bg      context.Context
	stopBg  context.CancelFunc
	done    chan struct{}
	closed  atomic.Bool
	fetches atomic.Int64
	skipped atomic.Int64
}

// entry is what the index knows of a subject: where its key record is,
// or that it was erased (then id is the erased key's ID, 0 if unknown).
type entry struct {
	partition int32
	offset    int64
	id        uint64
	erased    bool
	// unreadable says why the subject's latest key record cannot be
	// read (another key-encryption key, a corrupt value); "" if it can.
	unreadable string
}

type absentKey struct {
	subject string
	id      uint64
}

// New opens the key store on topic using client (for reads and
// metadata). It creates the topic if missing (compacted, see
// [WithTopicCreation]; [WithoutTopicCreation] turns that off), refuses a
// topic whose cleanup.policy is not exactly "compact", reads the topic
// once to index every subject's key, and starts reading it for keys and
// erasures of other instances every [WithRefreshInterval]. Keys are
// written by a transactional producer of its own, on a client made from
// client's configuration and brokers (the principal needs Write on the
// topic and on the transactional ID, see [WithTransactionalID]). ctx
// bounds the start-up.
func New(ctx context.Context, client sarama.Client, topic string, opts ...Option) (*Store, error) {
	o := options{cacheSize: DefaultCacheSize, refresh: DefaultRefreshInterval, logger: slog.Default(), create: true, partitions: 1, txnTimeout: 10 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if topic == "" {
		return nil, errors.New("kafkakeys: empty topic name; name the key topic, for example \"<service>.pii-keys\"")
	}
	if o.txnID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.txnPrefix = topic + ".kafkaes-"
		o.txnID = o.txnPrefix + hex.EncodeToString(b[:])
	}
	wrap, err := newWrapper(o.kek)
	if err != nil {
		return nil, err
	}
	if err := checkTopic(client, topic, o); err != nil {
		return nil, err
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("kafkakeys: partitions of key topic %s: %w", topic, err)
	}
	s := &Store{client: client, topic: topic, parts: parts, opts: o, wrap: wrap,
		index: map[string]entry{}, next: map[int32]int64{},
		cache: newLRU[string, pii.Key](o.cacheSize), absent: newLRU[absentKey, struct{}](o.cacheSize),
		done: make(chan struct{})}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	if err := s.build(ctx); err != nil {
		s.stopBg()
		return nil, err
	}
	if err := s.newProducer(); err != nil {
		s.stopBg()
		return nil, err
	}
	go s.poll()
	return s, nil
}

func (s *Store) newProducer() error {
	cfg := *s.client.Config()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Transaction.ID = s.opts.txnID
	cfg.Producer.Transaction.Timeout = s.opts.txnTimeout
	// The broker answers CONCURRENT_TRANSACTIONS while it writes the
	// previous transaction's markers (a few ms): retry soon, not after
	// sarama's default 100ms.
	cfg.Producer.Transaction.Retry.Backoff = 2 * time.Millisecond
	cfg.Producer.Transaction.Retry.Max = 1000
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	var addrs []string
	for _, b := range s.client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	pc, err := sarama.NewClient(addrs, &cfg)
	if err != nil {
		return fmt.Errorf("kafkakeys: client for the key producer: %w", err)
	}
	p, err := sarama.NewSyncProducerFromClient(pc)
	if kafkaauth.Fatal(err) {
		_ = pc.Close()
		return s.deniedTxn(err, &cfg, "create the transactional key producer")
	}
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("kafkakeys: create the transactional key producer: %w", err)
	}
	s.pclient, s.producer = pc, p
	return nil
}

// partition returns the partition of subject's records: murmur2 of the
// subject, as the Java client's default partitioner places a key.
func (s *Store) partition(subject string) int32 {
	return s.parts[wire.PartitionString(subject, int32(len(s.parts)))]
}

// GetOrCreate returns the subject's key, creating it if the topic holds
// none. Of several instances creating the first key of a subject at once,
// all end up with the same key (see the package doc). The key is
// committed to the topic before GetOrCreate returns.
func (s *Store) GetOrCreate(ctx context.Context, subject string) (pii.Key, error) {
	if s.closed.Load() {
		return pii.Key{}, ErrClosed
	}
	if k, ok, err := s.lookup(ctx, subject, 0); ok || err != nil {
		return k, err
	}
	// Not indexed: another instance may have created it a moment ago.
	if err := s.catchUp(ctx, false); err != nil {
		return pii.Key{}, err
	}
	if k, ok, err := s.lookup(ctx, subject, 0); ok || err != nil {
		return k, err
	}
	return s.create(ctx, subject)
}

// Get returns the subject's key with ID id for decryption (any live key
// when id is 0), or an error matching [pii.ErrKeyNotFound]. An ID the
// store does not know makes it read the topic up to its end as of the
// call (waiting for open transactions to end), so that a key created by
// another instance just before is found; an ID found absent that way is
// remembered (IDs are random and never reused), as are erased IDs, so
// decoding the events of an erased subject costs no I/O after the first.
func (s *Store) Get(ctx context.Context, subject string, id uint64) (pii.Key, error) {
	if s.closed.Load() {
		return pii.Key{}, ErrClosed
	}
	if k, ok, err := s.lookup(ctx, subject, id); ok || err != nil {
		return k, err
	}
	s.mu.Lock()
	e, indexed := s.index[subject]
	_, absent := s.absent.get(absentKey{subject, id})
	s.mu.Unlock()
	if id != 0 && (absent || indexed && e.erased && e.id == id) {
		return pii.Key{}, fmt.Errorf("%w: subject %q, key %016x (erased)", pii.ErrKeyNotFound, subject, id)
	}
	if err := s.catchUp(ctx, true); err != nil {
		return pii.Key{}, err
	}
	if k, ok, err := s.lookup(ctx, subject, id); ok || err != nil {
		return k, err
	}
	if id != 0 {
		s.mu.Lock()
		s.absent.put(absentKey{subject, id}, struct{}{})
		s.mu.Unlock()
	}
	return pii.Key{}, fmt.Errorf("%w: subject %q in key topic %s", pii.ErrKeyNotFound, subject, s.topic)
}

// lookup returns the subject's live key from the cache or, when the index
// has it but the cache does not, from the topic. With id != 0 only a key
// with that ID is returned.
func (s *Store) lookup(ctx context.Context, subject string, id uint64) (pii.Key, bool, error) {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		e, ok := s.index[subject]
		if ok && e.unreadable != "" {
			s.mu.Unlock()
			return pii.Key{}, false, fmt.Errorf("kafkakeys: the key of subject %q (%s/%d:%d) cannot be read: %s", subject, s.topic, e.partition, e.offset, e.unreadable)
		}
		if !ok || e.erased || id != 0 && e.id != id {
			s.mu.Unlock()
			return pii.Key{}, false, nil
		}
		if k, ok := s.cache.get(subject); ok && k.ID == e.id {
			s.mu.Unlock()
			return k, true, nil
		}
		s.mu.Unlock()
		k, found, err := s.fetchKey(ctx, subject, e)
		if err != nil {
			return pii.Key{}, false, err
		}
		if found {
			s.mu.Lock()
			if cur, ok := s.index[subject]; ok && cur == e {
				s.cache.put(subject, k)
			}
			s.mu.Unlock()
			return k, true, nil
		}
		if attempt > 0 {
			return pii.Key{}, false, fmt.Errorf("kafkakeys: the key record of subject %q at %s/%d:%d is gone and no newer one was found; is another process deleting records of the key topic?", subject, s.topic, e.partition, e.offset)
		}
		// Compacted away: a newer record of the subject exists.
		if err := s.catchUp(ctx, false); err != nil {
			return pii.Key{}, false, err
		}
	}
}

// Erase writes a tombstone for the subject's key (in a transaction), so
// that compaction deletes the key and every field encrypted with it
// becomes unreadable. Other instances learn of it when they next read the
// topic ([WithRefreshInterval]), or at once when they meet a key ID they
// do not know. Erasing a subject without a key writes a tombstone too
// (harmless) so that a key another instance is creating at the same
// moment does not survive it if it was written first.
func (s *Store) Erase(ctx context.Context, subject string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if subject == "" {
		return errors.New("kafkakeys: Erase needs a subject ID")
	}
	s.txMu.Lock()
	defer s.txMu.Unlock()
	s.mu.Lock()
	e, ok := s.index[subject]
	s.mu.Unlock()
	msg := &sarama.ProducerMessage{Topic: s.topic, Partition: s.partition(subject), Key: sarama.StringEncoder(subject)}
	if ok && e.id != 0 {
		msg.Headers = []sarama.RecordHeader{{Key: []byte(HeaderKeyID), Value: formatID(e.id)}}
	}
	off, err := s.inTxn(ctx, msg, nil)
	if err != nil {
		return fmt.Errorf("kafkakeys: erase subject %q: %w", subject, err)
	}
	s.mu.Lock()
	if cur, ok := s.index[subject]; !ok || cur.partition != msg.Partition || cur.offset < off {
		s.index[subject] = entry{partition: msg.Partition, offset: off, id: e.id, erased: true}
	}
	if e.id != 0 {
		s.absent.put(absentKey{subject, e.id}, struct{}{}) // also after a new key replaces the entry
	}
	s.cache.del(subject)
	s.mu.Unlock()
	return nil
}

// Len returns the number of subjects with a live key in the index.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.index {
		if !e.erased {
			n++
		}
	}
	return n
}

// Cached returns the number of keys held in memory (at most the cache
// size).
func (s *Store) Cached() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.len()
}

// Fetches returns the number of fetch responses the store has read; tests
// use it to see what a lookup cost.
func (s *Store) Fetches() int64 { return s.fetches.Load() }

// Topic returns the key topic's name.
func (s *Store) Topic() string { return s.topic }

// Close stops reading the topic and closes the producer and its client.
// It does not close the client given to New.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopBg()
	<-s.done
	s.txMu.Lock()
	defer s.txMu.Unlock()
	err := s.producer.Close()
	return errors.Join(err, s.pclient.Close())
}

// Sync reads the key topic up to its end as of the call (waiting for open
// transactions to end): afterwards every key and erasure committed before
// the call is known to the store. See [pii.Syncer].
func (s *Store) Sync(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.catchUp(ctx, true)
}

// deniedTxn describes an authorization error of the transactional key
// producer: it asks for Write on the PREFIXED default transactional ID
// (which covers every instance) or on the ID WithTransactionalID set.
func (s *Store) deniedTxn(err error, cfg *sarama.Config, what string) error {
	if s.opts.txnPrefix != "" {
		return kafkaauth.Wrap(err, cfg, "kafkakeys: "+what, "Write", kafkaauth.TransactionalID, s.opts.txnPrefix, true)
	}
	return kafkaauth.Wrap(err, cfg, "kafkakeys: "+what, "Write", kafkaauth.TransactionalID, s.opts.txnID, false)
}
