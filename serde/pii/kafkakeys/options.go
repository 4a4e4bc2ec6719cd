package kafkakeys

import (
	"log/slog"
	"time"
)

// DefaultCacheSize is the default number of keys a [Store] keeps in
// memory ([WithCacheSize]).
const DefaultCacheSize = 10000

// DefaultRefreshInterval is how often a [Store] reads the key topic for
// keys and erasures of other instances by default ([WithRefreshInterval]).
const DefaultRefreshInterval = time.Second

// Option configures a [Store].
type Option func(*options)

type options struct {
	cacheSize int
	refresh   time.Duration
	logger    *slog.Logger
	txnID     string
	// txnPrefix is the default transactional ID's prefix (empty when
	// WithTransactionalID set one): an authorization error asks for a
	// PREFIXED ACL on it, which covers every instance.
	txnPrefix   string
	create      bool
	partitions  int32
	replication int16
	txnTimeout  time.Duration
	kek         []byte
}

// WithCacheSize sets how many keys (32-byte secrets) the store keeps in
// memory, least recently used first out (default [DefaultCacheSize], at
// least 1). A key that is not cached is fetched from the topic at the
// offset the index holds (one fetch).
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = max(n, 1) } }

// WithRefreshInterval sets how often the store reads the key topic for
// keys and erasures written by other instances (default
// [DefaultRefreshInterval]). Zero or less turns polling off (tests).
func WithRefreshInterval(d time.Duration) Option { return func(o *options) { o.refresh = d } }

// WithLogger sets the logger for start-up progress and skipped records
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTransactionalID sets the transactional ID of the store's producer
// (default "<key topic>.kafkaes-" followed by 16 random hex digits, so that
// instances never fence each other and one PREFIXED ACL on
// "<key topic>.kafkaes-" covers them all, as for the event store; see
// docs/security.md). Give each instance its own; the principal needs Write
// on it.
func WithTransactionalID(id string) Option { return func(o *options) { o.txnID = id } }

// WithTopicCreation sets the partitions and replication factor used when
// [New] creates a missing key topic (default 1 partition, replication
// factor min(3, brokers)). One partition is plenty: a key is written once
// per data subject.
func WithTopicCreation(partitions int32, replicationFactor int16) Option {
	return func(o *options) { o.partitions, o.replication = max(partitions, 1), replicationFactor }
}

// WithoutTopicCreation makes [New] fail when the key topic does not exist,
// instead of creating it.
func WithoutTopicCreation() Option { return func(o *options) { o.create = false } }

// WithKeyEncryptionKey makes the store wrap every key it writes with kek
// (32 bytes, AES-256-GCM, bound to the subject and key ID), so that the key
// topic alone no longer reveals the keys: fetch kek from your KMS at start.
// Default: keys in the clear (protect the topic with ACLs). A store with a
// KEK reads both wrapped and clear keys; a store without one cannot read
// wrapped keys (those subjects' fields fail to decrypt with an error, they
// are not taken as erased). Changing the KEK is not supported: keys wrapped
// with the old one become unreadable.
func WithKeyEncryptionKey(kek []byte) Option {
	return func(o *options) { o.kek = append([]byte(nil), kek...) }
}

// DefaultTopic returns the key topic name kafkaes suggests for an events
// topic: "<eventsTopic>.pii-keys". `kafkaes erase` uses it unless
// --key-topic is given.
func DefaultTopic(eventsTopic string) string { return eventsTopic + ".pii-keys" }
