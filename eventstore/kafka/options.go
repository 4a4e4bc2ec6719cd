package kafka

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// Option configures a [Store]; pass options to [New].
type Option func(*options)

type options struct {
	topic             string
	createPartitions  int32
	createReplication int16
	create            bool
	allowUnsafe       bool
	txnPrefix         string
	txnPrefixSet      bool
	maxBatchEvents    int
	linger            time.Duration
	appendTimeout     time.Duration
	txnTimeout        time.Duration
	producers         int
	idWindow          int
	logger            *slog.Logger
	progress          func(Progress)
	hooks             observe.Hooks // WithObserver (observe.go)
	obsErr            error
	indexDir          string                            // WithIndexDir
	readOnly          bool                              // WithReadOnly
	diskIndex         bool                              // WithDiskIndex
	diskCache         int                               // WithDiskIndex
	diskOpen          func(dir string) (IndexDB, error) // WithDiskIndex
	readCache         int64                             // WithReadCache
	indexSaveEvery    time.Duration
	compression       compression // WithCompression (compression.go)

	// staleIndex is how old an index may be before a catch-up precedes
	// the version check (defaultStaleIndex; tests raise it).
	staleIndex time.Duration
	// tracer holds the test hooks (hooks.go); nil outside tests.
	tracer tracer
}

// Defaults of the options.
const (
	// DefaultTopic is the events topic name the examples and the kafkaes
	// command use when none is given; [New] has no default and takes the
	// topic as an argument.
	DefaultTopic = "events"
	// DefaultMaxBatchEvents is the most events one group-commit
	// transaction carries (see [WithGroupCommit]).
	DefaultMaxBatchEvents = 1000
	// DefaultAppendTimeout bounds one Append (see [WithAppendTimeout]).
	DefaultAppendTimeout = 30 * time.Second
	// DefaultTransactionTimeout is the Kafka transaction timeout (see
	// [WithTransactionTimeout]).
	DefaultTransactionTimeout = 10 * time.Second
	// DefaultConcurrentTransactions is the number of transactional
	// producers, that is, of group commits in flight at once (see
	// [WithConcurrentTransactions]).
	DefaultConcurrentTransactions = 2
	// DefaultIdempotencyWindow is how many of the latest event IDs of every
	// stream the store remembers for idempotent appends (see
	// [WithIdempotencyWindow]).
	DefaultIdempotencyWindow = 64
	// DefaultReadCacheBytes is the size of the cache of recently appended
	// and read records (see [WithReadCache]).
	DefaultReadCacheBytes = 16 << 20
)

// TransactionalIDACLPrefix returns the prefix that every default
// transactional ID of a store on topic starts with: topic + ".kafkaes-".
// Allow the application's principal Write on TransactionalId resources
// with this PREFIXED pattern:
//
//	kafka-acls.sh --bootstrap-server <brokers> --command-config admin.properties \
//	  --add --allow-principal User:<app> --operation Write \
//	  --transactional-id '<topic>.kafkaes-' --resource-pattern-type prefixed
//
// The default prefix derives from the topic, which the operator names and
// grants rights on anyway, so that the ACL covers the writers of this
// topic only, rather than a "kafkaes-" prefix that every application on
// the cluster would share. A store with [WithTransactionalIDPrefix] needs
// the ACL on its own prefix instead.
func TransactionalIDACLPrefix(topic string) string { return topic + ".kafkaes-" }

// defaultTxnPrefix is [TransactionalIDACLPrefix] plus a random suffix that
// keeps two live stores on the same topic from fencing each other.
func defaultTxnPrefix(topic string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return TransactionalIDACLPrefix(topic) + hex.EncodeToString(b[:])
}

func defaultOptions() options {
	return options{
		maxBatchEvents: DefaultMaxBatchEvents,
		appendTimeout:  DefaultAppendTimeout,
		txnTimeout:     DefaultTransactionTimeout,
		producers:      DefaultConcurrentTransactions,
		idWindow:       DefaultIdempotencyWindow,
		readCache:      DefaultReadCacheBytes,
		indexSaveEvery: indexSaveInterval,
		logger:         slog.Default(),
		staleIndex:     defaultStaleIndex,
	}
}

// WithCreateTopic makes [New] create the events topic when it does not
// exist, with the given partitions and replication factor and the settings
// an events topic needs (cleanup.policy=delete, retention.ms=-1,
// retention.bytes=-1). By default New does not create topics and fails with
// an error saying how to create it. Production clusters want a replication
// factor of at least 3 with min.insync.replicas=2. Never add partitions to an
// events topic later: streams would move to other partitions.
func WithCreateTopic(partitions int32, replicationFactor int16) Option {
	return func(o *options) {
		o.create, o.createPartitions, o.createReplication = true, partitions, replicationFactor
	}
}

// WithAllowUnsafeTopic lets [New] use an events topic whose configuration
// can lose events (compaction, or a finite retention.ms or retention.bytes).
// By default New refuses such a topic. Use it only for throw-away data.
func WithAllowUnsafeTopic() Option { return func(o *options) { o.allowUnsafe = true } }

// WithTransactionalIDPrefix sets the prefix of the Kafka transactional IDs
// of the store's producers (the IDs are prefix-0, prefix-1, ...). The
// default is [TransactionalIDACLPrefix] of the events topic
// ("<topic>.kafkaes-") plus a random suffix, unique per Store, so that one
// PREFIXED ACL per topic allows the store's producers. Give every
// service instance its own stable prefix (for example the pod name) to let a
// restarted instance fence its own previous incarnation at once instead of
// waiting for the transaction timeout; two live stores must never share a
// prefix, or they fence each other.
func WithTransactionalIDPrefix(prefix string) Option {
	return func(o *options) { o.txnPrefix, o.txnPrefixSet = prefix, true }
}

// WithGroupCommit sets how concurrent appends are grouped into one Kafka
// transaction: at most maxEvents events per transaction (default
// [DefaultMaxBatchEvents]), and after the first append of a batch is taken,
// wait up to linger for more (default 0: take what is queued and go;
// batches still grow under load because appends queue while earlier
// transactions are in flight). Values <= 0 keep the default (linger 0).
func WithGroupCommit(maxEvents int, linger time.Duration) Option {
	return func(o *options) {
		if maxEvents > 0 {
			o.maxBatchEvents = maxEvents
		}
		o.linger = max(linger, 0)
	}
}

// WithAppendTimeout bounds every Append, on top of the caller's context
// (default [DefaultAppendTimeout]). An append that is already being
// committed when it expires waits for the commit's outcome.
func WithAppendTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.appendTimeout = d
		}
	}
}

// WithTransactionTimeout sets the Kafka transaction timeout of the store's
// producers (default [DefaultTransactionTimeout]). An open transaction of a
// crashed writer holds back read_committed readers of its partitions until
// the broker aborts it after this time, so keep it short. It must not
// exceed the broker's transaction.max.timeout.ms.
func WithTransactionTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.txnTimeout = d
		}
	}
}

// WithConcurrentTransactions sets how many transactional producers the
// store uses, that is, how many group commits can be in flight at once
// (default [DefaultConcurrentTransactions]). More overlap network round
// trips of one transaction with the next.
func WithConcurrentTransactions(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.producers = n
		}
	}
}

// WithIdempotencyWindow sets how many of the latest event IDs of every
// stream the store remembers (default [DefaultIdempotencyWindow]).
// Re-appending events whose IDs are among them is recognised as a repeat (or
// refused with ErrDuplicateEventID); IDs older than the window are not
// checked. The window is rebuilt from the log at start, so it holds across
// restarts. Memory is about 50 bytes per remembered ID.
func WithIdempotencyWindow(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.idWindow = n
		}
	}
}

// WithLogger sets the logger for the store's background events that no
// caller sees as an error (a transactional producer replaced, records
// settled that Kafka left without a transaction marker). The default is
// slog.Default(), as for every kafkaes component (docs/security.md lists
// what each one logs). The store logs topics, partitions and
// transactional IDs, never stream IDs or event data; pass
// slog.New(slog.DiscardHandler) to log nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithReadCache sets the bytes the store may keep of the records it
// appended or ReadStream read last (default [DefaultReadCacheBytes], 16
// MiB; 0 turns the cache off). ReadStream takes a stream's records from it
// instead of fetching them, after catching the partition's index up as
// always, so a cached load costs the catch-up's round trips only. Only
// committed records enter it, by their offset, so it never serves an
// event a read without it would not return.
func WithReadCache(bytes int64) Option { return func(o *options) { o.readCache = bytes } }

// indexSaveInterval is how often a store with WithIndexDir saves its index
// while it runs.
const indexSaveInterval = 5 * time.Minute

// WithIndexDir keeps a copy of the stream index in dir (created if
// missing), one file per events topic, written atomically when the store
// is closed. The next [New] on the same topic loads it and reads only the
// records appended since, instead of the whole topic: a restart after a
// clean Close costs about what changed. New uses the file only after
// checking that it still describes the topic's log (same cluster, same
// topic ID, so not deleted and re-created, same partition count, no
// partition whose log start moved past it or whose log was truncated
// below it, intact checksum); otherwise it logs why and builds the index
// from the topic, as without the option. After a crash the file of the
// previous clean Close is used (it describes a shorter prefix of the same
// log), or none. The store also saves the index every 5 minutes while it
// runs, so that after a crash the next start reads at most about 5
// minutes of appends. A failed save is logged, not returned by Close. The file
// holds the stream IDs in plain text (like the topic itself): give the
// directory the protection the topic's data has. The default is no
// directory: the index is built from the topic at every start. The index
// lives in memory either way, unless [WithDiskIndex] keeps it in dir too.
func WithIndexDir(dir string) Option { return func(o *options) { o.indexDir = dir } }

// WithReadOnly makes [New] open a store that only reads, for tools and
// audits: it creates no producer and no transaction (so it needs only Read
// and Describe on the topic, not Write or the transactional-ID ACLs), does
// not check the topic's configuration, and builds no index at start. Each
// partition's index is built the first time a ReadStream needs it: from
// the beginning of the partition (keys and headers, as New does for every
// partition, reported to [WithProgress]), or, with [WithIndexDir], from
// where the saved index of a store on the same topic ends, which is what
// makes a read-only lookup cheap. A read-only store never writes the
// index file, so it may share the directory of a running store. Append,
// AppendMulti, DeleteStream and TruncateStream fail with an error matching
// [ErrReadOnly]; ReadAll and Subscribe check only the events of partitions
// whose index a ReadStream built. [WithDiskIndex] is ignored: a read-only
// store keeps its index in memory (it writes nothing, and the disk
// index's database is locked by the store that uses it).
func WithReadOnly() Option { return func(o *options) { o.readOnly = true } }

// ErrReadOnly is matched by the errors of every append to a store opened
// [WithReadOnly]; nothing was written.
var ErrReadOnly = errors.New("kafka: the store was opened read-only (WithReadOnly)")

// WithDiskIndex keeps the stream index of [WithIndexDir] on local disk
// instead of in memory: the streams are entries of a database that open
// opens (or creates) in a directory beside the index file
// (<topic>.kafkaes-pebble), usually pebbleindex.Open (package
// eventstore/kafka/pebbleindex, on pebble; a package of its own so that
// only programs that use the disk index link pebble), and at most
// cacheStreams of them are held in memory (over all partitions;
// [DefaultDiskIndexCache], 100,000, when cacheStreams <= 0), plus the
// streams changed since the index last wrote to disk (at most a quarter
// of that) and the database's own caches (pebbleindex: a 32 MiB block
// cache and up to two 32 MiB memtables, outside the Go heap). A fresh
// build (an empty or distrusted index directory) does not use the cache:
// it writes the records it reads as build entries, without reading the
// database, into a second database that open opens beside it
// (<topic>.kafkaes-pebble-build, removed when the build ends, and at the
// next start after a crash), holding at most 4,096 pending entries per
// partition (about 50 bytes each), and folds them into stream entries
// afterwards, one stream at a time. So memory is bounded by the cache size, not by the
// number of streams (a single stream's own entry, its runs and ID window,
// is in memory while it is used, as in the in-memory index). The index writes its changes with each
// partition's checkpoint (the offset it covers) in one atomic batch, and
// syncs them to disk when WithIndexDir saves (every 5 minutes and at
// Close); a start checks them against the log as it checks the index
// file and catches up from the checkpoint. A failed read or write of the
// database stops the index of its partition: its appends and reads fail
// with [eventstore.ErrUnavailable] until the store is restarted. Each
// store needs a directory of its own (the database is locked while
// open). Without WithIndexDir it does nothing. The default is the
// in-memory index.
func WithDiskIndex[D IndexDB](open func(dir string) (D, error), cacheStreams int) Option {
	return func(o *options) {
		o.diskIndex = open != nil
		o.diskOpen = func(dir string) (IndexDB, error) {
			db, err := open(dir)
			if err != nil {
				return nil, err
			}
			return db, nil
		}
		o.diskCache = cacheStreams
		if cacheStreams <= 0 {
			o.diskCache = DefaultDiskIndexCache
		}
	}
}

// WithProgress sets a function that [New] calls while it builds the stream
// index from the topic at start: after every fetch, with the progress of
// one partition. The default reports nothing.
func WithProgress(fn func(Progress)) Option { return func(o *options) { o.progress = fn } }

// Progress reports how far the startup catch-up of the stream index
// has got in one partition.
type Progress struct {
	// Topic is the events topic.
	Topic string
	// Partition is the partition this report is about.
	Partition int32
	// Offset is the next offset to index in the partition.
	Offset int64
	// End is the partition's last stable offset when the catch-up started;
	// the partition is done when Offset >= End.
	End int64
	// Records is the number of records indexed so far in all partitions.
	Records int64
}

// Done reports whether the partition has been indexed up to End.
func (p Progress) Done() bool { return p.Offset >= p.End }
