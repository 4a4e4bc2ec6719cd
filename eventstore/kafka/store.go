package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// CorruptRecordError is the error for a record of the events topic that is
// not a valid kafkaes event (a foreign record, a malformed header, a
// version out of place). It names the topic, partition and offset, and
// matches [eventstore.ErrCorruptLog] with errors.Is.
type CorruptRecordError = wire.DecodeError

// Store is an [eventstore.Store] on an Apache Kafka topic. Create it with
// [New]; it is safe for concurrent use. See the package documentation for
// how it keeps optimistic concurrency safe across instances.
type Store struct {
	opts   options
	topic  string
	nparts int32
	// read is the store's own client for raw fetches and metadata, so
	// that the user's client is never blocked or closed by the store.
	read sarama.Client
	// rcache holds recently appended and read records (readcache.go).
	rcache *readCache
	// built marks the partitions whose index a read-only store
	// (WithReadOnly) has built, under buildMu (buildFor).
	buildMu sync.Mutex
	built   map[int32]bool
	f       *fetcher
	loadF   *fetcher
	// loadRaw is the raw fetcher of dense loads (read.go), made on the
	// first one (nil, with loadRawDone set, when the configuration does
	// not carry over to franz-go); under loadRawMu.
	loadRawMu   sync.Mutex
	loadRaw     *rawFetcher
	loadRawDone bool
	idx         []streamIndex
	// db is the database of the disk-resident index (WithDiskIndex);
	// bulkDB the one of its fresh build's entries, until the build ends
	// (diskbulk.go).
	db     IndexDB
	bulkDB IndexDB
	// doubts remembers appends whose outcome was reported unknown (unknown.go).
	doubts doubts
	addrs  []string
	cfg    *sarama.Config

	// indexed counts records read by index catch-up; loaded counts records
	// fetched by stream loads (tests use them to check costs).
	indexed atomic.Int64
	loaded  atomic.Int64

	gc *groupCommit

	// suspect counts errors that may come from a broker going away (it
	// starts at 1): a worker that has not settle-checked since the last
	// one does so before its next transaction writes data (settle.go).
	suspect atomic.Uint64

	closeOnce sync.Once
	closed    chan struct{}
	// saver is the goroutine that saves the index periodically
	// (WithIndexDir); Close waits for it.
	saver    sync.WaitGroup
	closeErr error
}

var _ eventstore.Store = (*Store)(nil)

// New returns a Store on the events topic of the cluster that client is
// connected to (one topic per bounded context is usual). The client stays the caller's: the store reads its
// configuration (TLS, SASL, client ID, version) and broker addresses and
// opens its own connections and transactional producers from copies of it;
// it never closes client.
//
// New checks the topic (it must exist unless [WithCreateTopic] is given,
// and must not be compacted or expire events unless [WithAllowUnsafeTopic]
// is given), then builds the stream index by reading the whole topic once
// (report progress with [WithProgress]; cancel with ctx), then starts the
// producers. Close the store when done.
func New(ctx context.Context, client sarama.Client, topic string, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: kafka.New needs a sarama.Client", eventstore.ErrInvalidArgument)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.obsErr != nil {
		return nil, fmt.Errorf("%w: kafka.WithObserver: %w", eventstore.ErrInvalidArgument, o.obsErr)
	}
	o.topic = topic
	if o.topic == "" {
		return nil, fmt.Errorf("%w: empty events topic name; pass the topic to kafka.New (one topic per bounded context is usual)", eventstore.ErrInvalidArgument)
	}
	if !o.txnPrefixSet {
		o.txnPrefix = defaultTxnPrefix(o.topic)
	}
	if o.txnPrefix == "" {
		return nil, fmt.Errorf("%w: empty transactional ID prefix", eventstore.ErrInvalidArgument)
	}
	if client.Closed() {
		return nil, fmt.Errorf("%w: the sarama client is closed", eventstore.ErrInvalidArgument)
	}
	cfg := copyConfig(client.Config())
	var addrs []string
	for _, b := range client.Brokers() {
		addrs = append(addrs, b.Addr())
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("kafka: the sarama client knows no brokers")
	}
	read, err := sarama.NewClient(addrs, cfg)
	if err != nil {
		if kafkaauth.IsAuthentication(err) {
			return nil, kafkaauth.Wrap(err, cfg, fmt.Sprintf("kafka: connect to %v", addrs), "", "", "", false)
		}
		return nil, fmt.Errorf("kafka: connect to %v: %w", addrs, err)
	}
	s := &Store{opts: o, topic: o.topic, read: read, addrs: addrs, cfg: cfg, closed: make(chan struct{}), rcache: newReadCache(o.readCache)}
	s.suspect.Store(1) // every worker settle-checks before its first transaction
	s.f = &fetcher{client: read, topic: o.topic, onError: s.markSuspect}
	s.loadF = &fetcher{client: read, topic: o.topic, onRecords: func(n int) { s.loaded.Add(int64(n)) }, onError: s.markSuspect}
	if err := s.start(ctx); err != nil {
		s.shutdown()
		return nil, err
	}
	return s, nil
}

// copyConfig returns a copy of the user's configuration for the store's own
// clients, with a protocol version that has the transactional APIs the
// store needs, and with topic auto-creation off: a Metadata request for a
// missing topic must never create it with the broker's defaults (a broker
// with the stock auto.create.topics.enable=true would otherwise create the
// events topic with 7-day retention the moment the store asks for its
// partitions). Every client, producer and subscription of the store is
// built from this copy.
func copyConfig(c *sarama.Config) *sarama.Config {
	cp := *c
	cp.Metadata.AllowAutoTopicCreation = false
	if !cp.Version.IsAtLeast(sarama.V2_5_0_0) {
		cp.Version = sarama.V2_5_0_0
	}
	cp.MetricRegistry = metrics.NewRegistry() // own registry: sharing it would mix the clients' metrics
	return &cp
}

func (s *Store) start(ctx context.Context) error {
	parts, err := s.ensureTopic(ctx)
	if err != nil {
		return err
	}
	if !s.opts.readOnly {
		if err := s.checkTopicConfig(ctx); err != nil {
			return err
		}
	} else {
		// A read-only store writes nothing, and a disk index writes as it
		// indexes (and locks a directory a running store may hold).
		s.opts.diskIndex = false
	}
	s.nparts = int32(len(parts))
	s.idx = make([]streamIndex, s.nparts)
	for i := range s.idx {
		s.idx[i] = newPartIndex()
	}
	all := make([]int32, s.nparts)
	for i := range all {
		all[i] = int32(i)
	}
	var progress func(p int32, next, end int64)
	if fn := s.opts.progress; fn != nil {
		progress = func(p int32, next, end int64) {
			fn(Progress{Topic: s.topic, Partition: p, Offset: next, End: end, Records: s.indexed.Load()})
		}
	}
	if s.opts.indexDir != "" {
		load := s.loadIndex
		if s.opts.diskIndex {
			load = s.openDiskIndex
		}
		why, err := load(ctx)
		if err != nil {
			return err
		}
		if why != "" {
			s.logRebuild(why)
		}
	}
	if s.opts.readOnly {
		s.built = map[int32]bool{}
		return nil // no appends; every read builds its partition's index (buildFor)
	}
	if err := s.build(ctx, all, progress); err != nil {
		return err
	}
	if s.db != nil {
		if err := s.finishBulk(); err != nil {
			return err
		}
	}
	if err := s.catchUp(ctx, all, false, progress); err != nil {
		return err
	}
	gc, err := newGroupCommit(ctx, s)
	if err != nil {
		return err
	}
	s.gc = gc
	if s.opts.indexDir != "" && s.opts.indexSaveEvery > 0 {
		s.saver.Go(s.saveEvery)
	}
	return nil
}

// saveEvery saves the index every indexSaveEvery until the store closes,
// so that a crash costs the next start at most that much catching up.
func (s *Store) saveEvery() {
	t := time.NewTicker(s.opts.indexSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		ctx, cancel := s.endOnClose(context.Background(), time.Minute) // a Close during the save ends its broker calls
		if err := s.saveIndex(ctx); err != nil && !s.isClosed() {
			s.opts.logger.Warn("kafka: could not save the stream index", slog.String("topic", s.topic), slog.Any("error", err))
		}
		cancel()
	}
}

// ensureTopic returns the partitions of the events topic, creating the
// topic when it is missing and WithCreateTopic was given.
func (s *Store) ensureTopic(ctx context.Context) ([]int32, error) {
	// A topic created a moment ago may not be in every broker's metadata
	// yet: give it a short while before calling it missing.
	missingUntil := time.Now().Add(2 * time.Second)
	parts, err := retry(ctx, func() ([]int32, error) {
		err := s.read.RefreshMetadata(s.topic)
		if err == nil {
			var ps []int32
			ps, err = s.read.Partitions(s.topic)
			if err == nil {
				return ps, nil
			}
		}
		if errors.Is(err, sarama.ErrUnknownTopicOrPartition) && time.Now().After(missingUntil) {
			return nil, errTopicMissing // not worth retrying
		}
		return nil, err
	})
	if errors.Is(err, errTopicMissing) {
		if !s.opts.create {
			return nil, fmt.Errorf("kafka: events topic %q does not exist; create it with cleanup.policy=delete and retention.ms=-1 "+
				"(kafka-topics.sh --create --topic %s --partitions N --replication-factor 3 --config cleanup.policy=delete --config retention.ms=-1 "+
				"--config min.insync.replicas=2), or pass kafka.WithCreateTopic(partitions, replicationFactor)", s.topic, s.topic)
		}
		if err := s.createTopic(); err != nil {
			return nil, err
		}
		parts, err = retry(ctx, func() ([]int32, error) {
			if err := s.read.RefreshMetadata(s.topic); err != nil {
				return nil, err
			}
			ps, err := s.read.Partitions(s.topic)
			if err == nil && int32(len(ps)) != s.opts.createPartitions {
				return nil, sarama.ErrLeaderNotAvailable // metadata not complete yet
			}
			return ps, err
		})
	}
	if kafkaauth.Fatal(err) {
		// Without Describe (granted by Read or Write) the topic is hidden.
		return nil, kafkaauth.Wrap(err, s.cfg, fmt.Sprintf("kafka: read the partitions of topic %q (a store needs Read, Write and DescribeConfigs on it, which imply Describe; see docs/security.md)", s.topic), "Describe", kafkaauth.Topic, s.topic, false)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: read the partitions of topic %q: %w", s.topic, err)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("kafka: topic %q has no partitions", s.topic)
	}
	sorted := slices.Sorted(slices.Values(parts))
	for i, p := range sorted {
		if p != int32(i) {
			return nil, fmt.Errorf("kafka: topic %q has partitions %v; expected 0..%d", s.topic, sorted, len(sorted)-1)
		}
	}
	return sorted, nil
}

// errTopicMissing means the events topic does not exist.
var errTopicMissing = errors.New("kafka: topic does not exist")

func (s *Store) createTopic() error {
	if s.opts.createPartitions <= 0 || s.opts.createReplication <= 0 {
		return fmt.Errorf("%w: WithCreateTopic needs partitions >= 1 and a replication factor >= 1", eventstore.ErrInvalidArgument)
	}
	admin, err := sarama.NewClusterAdminFromClient(s.read)
	if err != nil {
		return fmt.Errorf("kafka: admin client: %w", err)
	}
	// The admin shares s.read; closing it would close s.read, so it is
	// left to be released with the store.
	del, forever := "delete", "-1"
	err = admin.CreateTopic(s.topic, &sarama.TopicDetail{
		NumPartitions:     s.opts.createPartitions,
		ReplicationFactor: s.opts.createReplication,
		ConfigEntries:     map[string]*string{"cleanup.policy": &del, "retention.ms": &forever, "retention.bytes": &forever},
	}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("kafka: create events topic %q: %w", s.topic, err)
	}
	return nil
}

// checkTopicConfig refuses a topic that can lose events: compaction, or a
// finite retention. WithAllowUnsafeTopic skips the check.
func (s *Store) checkTopicConfig(ctx context.Context) error {
	if s.opts.allowUnsafe {
		return nil
	}
	admin, err := sarama.NewClusterAdminFromClient(s.read)
	if err != nil {
		return fmt.Errorf("kafka: admin client: %w", err)
	}
	// The topic exists (ensureTopic saw it), but on a cluster of several
	// brokers one that has not heard yet of a topic created a moment ago
	// (WithCreateTopic, or by an operator) answers that it does not exist:
	// ask again for a while.
	entries, err := kafkafetch.TopicConfigSettled(ctx, admin, s.topic, 10*time.Second)
	if err != nil {
		if kafkaauth.Fatal(err) {
			return kafkaauth.Wrap(err, s.cfg, fmt.Sprintf("kafka: read the configuration of events topic %q to check that it keeps events forever "+
				"(or pass kafka.WithAllowUnsafeTopic() to skip the check)", s.topic), "DescribeConfigs", kafkaauth.Topic, s.topic, false)
		}
		return fmt.Errorf("kafka: read the configuration of topic %q to check that it keeps events forever "+
			"(allow DescribeConfigs on the topic, or pass kafka.WithAllowUnsafeTopic() to skip the check): %w", s.topic, err)
	}
	cfg := map[string]string{}
	for _, e := range entries {
		cfg[e.Name] = e.Value
	}
	how := func(setting, value string) string {
		return fmt.Sprintf("set %s=%s on the topic (kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config %s=%s), "+
			"or pass kafka.WithAllowUnsafeTopic() if losing events is acceptable", setting, value, s.topic, setting, value)
	}
	if p, ok := cfg["cleanup.policy"]; ok && strings.Contains(p, "compact") {
		return fmt.Errorf("kafka: events topic %q has cleanup.policy=%s: compaction deletes events, which are the source of truth; %s",
			s.topic, p, how("cleanup.policy", "delete"))
	}
	if r, ok := cfg["retention.ms"]; ok && r != "-1" {
		return fmt.Errorf("kafka: events topic %q has retention.ms=%s: Kafka would delete events older than that; %s",
			s.topic, r, how("retention.ms", "-1"))
	}
	if r, ok := cfg["retention.bytes"]; ok && r != "-1" && r != "" {
		return fmt.Errorf("kafka: events topic %q has retention.bytes=%s: Kafka would delete events beyond that size; %s",
			s.topic, r, how("retention.bytes", "-1"))
	}
	return nil
}

// Topic returns the name of the events topic.
func (s *Store) Topic() string { return s.topic }

// Partitions returns the number of partitions of the events topic, as it
// was when the store started.
func (s *Store) Partitions() int32 { return s.nparts }

// Partition returns the partition that holds the events of streamID: the
// one the Java client's default partitioner picks for the key.
func (s *Store) Partition(streamID string) int32 {
	return wire.PartitionString(streamID, s.nparts)
}

// DecodeMessage decodes a message of an events topic consumed with a
// sarama consumer (for example by a projection's consumer group) into the
// event it holds. A record that is not a valid kafkaes event gives a
// [*CorruptRecordError] naming its topic, partition and offset, matching
// [eventstore.ErrCorruptLog]; it never panics. Consume events topics with
// Consumer.IsolationLevel = sarama.ReadCommitted, or aborted appends show up.
func DecodeMessage(msg *sarama.ConsumerMessage) (eventstore.RecordedEvent, error) {
	if msg == nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: nil message", eventstore.ErrInvalidArgument)
	}
	return wire.DecodeMessage(msg)
}

// Close stops the store: appends still queued fail with
// [eventstore.ErrClosed], appends already in a transaction are finished,
// the producers and the store's own connections are closed. The user's
// sarama client stays open. Close is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeErr = s.shutdown()
	})
	return s.closeErr
}

func (s *Store) shutdown() error {
	var errs []error
	if s.gc != nil {
		errs = append(errs, s.gc.close())
		s.saver.Wait()
		if s.opts.indexDir != "" {
			// The store started, so its index is complete up to each
			// partition's offset; the workers have stopped.
			// A failure only costs the next start a full build: log it.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := s.saveIndex(ctx); err != nil {
				s.opts.logger.Warn("kafka: could not save the stream index; the next start reads the whole topic",
					slog.String("topic", s.topic), slog.Any("error", err))
			}
			cancel()
		}
	}
	if err := s.closeDisk(); err != nil {
		errs = append(errs, fmt.Errorf("kafka: close the stream index on disk: %w", err))
	}
	s.loadRawMu.Lock()
	if s.loadRaw != nil {
		s.loadRaw.close()
	}
	s.loadRawDone = true // no new one after Close
	s.loadRaw = nil
	s.loadRawMu.Unlock()
	if err := s.read.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// endOnClose returns a context derived from parent that also ends when
// the store closes and, when timeout is above 0, after timeout; call its
// cancel function when done.
func (s *Store) endOnClose(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	if timeout > 0 {
		cctx, ccancel := ctx, cancel
		tctx, tcancel := context.WithTimeout(cctx, timeout)
		ctx, cancel = tctx, func() { tcancel(); ccancel() }
	}
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// markSuspect records an error that may come from a broker going away (a
// broken connection, a coordinator error): every worker settle-checks
// before its next transaction.
func (s *Store) markSuspect() { s.suspect.Add(1) }

// ErrNotAuthorized is matched (errors.Is) by every [*AuthorizationError]:
// the cluster's ACLs deny the store's principal an operation it needs.
// docs/security.md lists the ACLs a store needs.
var ErrNotAuthorized = kafkaauth.ErrNotAuthorized

// ErrNotAuthenticated is matched by the errors for a failed SASL
// authentication (unknown user, wrong password, a mechanism the listener
// does not enable).
var ErrNotAuthenticated = kafkaauth.ErrNotAuthenticated

// AuthorizationError is a request the cluster's ACLs denied: it names what
// the store was doing, the ACL operation, the resource type and name (a
// PREFIXED pattern for transactional IDs), the principal when the SASL
// configuration tells it, and its message holds the kafka-acls.sh command
// that allows it. It matches [ErrNotAuthorized] and the broker's error
// code (errors.Is(err, sarama.ErrTopicAuthorizationFailed) and so on).
// The store never retries these errors.
type AuthorizationError = kafkaauth.Error

// buildFor builds the index of partition p of a read-only store the first
// time a read needs it, as New builds every partition's index of a store
// that appends: up to the last stable offset, however long that takes (the
// read's own catch-up that follows gives up after a few seconds, which is
// meant for the records appended since the last read, not for a whole
// partition). It does nothing for other stores.
func (s *Store) buildFor(ctx context.Context, p int32) error {
	if !s.opts.readOnly {
		return nil
	}
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	if s.built[p] {
		return nil
	}
	var progress func(p int32, next, end int64)
	if fn := s.opts.progress; fn != nil {
		progress = func(p int32, next, end int64) {
			fn(Progress{Topic: s.topic, Partition: p, Offset: next, End: end, Records: s.indexed.Load()})
		}
	}
	s.idx[p].lockCatch()
	err := s.build(ctx, []int32{p}, progress)
	s.idx[p].unlockCatch()
	if err != nil {
		return err
	}
	s.built[p] = true
	return nil
}
