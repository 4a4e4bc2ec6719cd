package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/kafkafetch"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/snapshot"
)

// Header names of a snapshot record; see the package documentation.
const (
	HeaderVersion       = "es.version"
	HeaderType          = "es.type"
	HeaderSchemaVersion = "es.snapshot.schema"
	HeaderEventID       = "es.snapshot.event"
	HeaderTime          = "es.time"
)

// ErrCorruptSnapshot means a record of the snapshot topic cannot be read as
// a snapshot (missing or malformed headers). The wrapping error says where.
var ErrCorruptSnapshot = errors.New("snapshot/kafka: corrupt snapshot record")

// ErrClosed means the store was closed.
var ErrClosed = errors.New("snapshot/kafka: store closed")

// Store is a [snapshot.Store] on a compacted Kafka topic. Create it with
// [New]; it is safe for concurrent use. Close it when done (the sarama
// client stays open: it is the caller's).
type Store struct {
	client   sarama.Client
	topic    string
	producer sarama.SyncProducer
	opts     options
	parts    []int32

	mu    sync.RWMutex
	index map[string]loc
	next  map[int32]int64 // next offset to index, per partition

	catchMu sync.Mutex // one catch-up at a time

	bg      context.Context // cancelled by Close; bounds background polls
	stopBg  context.CancelFunc
	done    chan struct{}
	closed  atomic.Bool
	skipped atomic.Int64
	fetches atomic.Int64
}

// loc is where a stream's latest snapshot record is.
type loc struct {
	partition int32
	offset    int64
	version   int64
}

// New opens the snapshot store on topic using client. It checks that the
// topic is compacted (creating it with [WithCreateTopic]), reads it once to
// build the index of latest snapshots, and starts polling it for new
// records. ctx bounds the start-up (building the index of a large topic
// takes a while; progress is logged).
//
// The client's configuration must allow a synchronous producer
// (Producer.Return.Successes = true) and must not be transactional
// (Producer.Transaction.ID empty). Snapshots are written with the
// client's Producer.RequiredAcks: with sarama's default (WaitForLocal) a
// snapshot only the partition leader had when Save returned is lost if
// that leader fails first. A lost snapshot loses no data (loads then use
// the previous snapshot, or the whole stream, and replay more events);
// set RequiredAcks to sarama.WaitForAll (as the examples do) to keep
// every acknowledged snapshot on a replicated topic.
func New(ctx context.Context, client sarama.Client, topic string, opts ...Option) (*Store, error) {
	o := options{logger: slog.Default(), refresh: time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if topic == "" {
		return nil, errors.New("snapshot/kafka: empty topic name")
	}
	cfg := client.Config()
	if !cfg.Producer.Return.Successes || !cfg.Producer.Return.Errors {
		return nil, errors.New("snapshot/kafka: the sarama client's config needs Producer.Return.Successes = true and Producer.Return.Errors = true to write snapshots")
	}
	if cfg.Producer.Transaction.ID != "" {
		return nil, fmt.Errorf("snapshot/kafka: the sarama client is configured for transactions (Producer.Transaction.ID=%q); give the snapshot store a client without a transactional ID", cfg.Producer.Transaction.ID)
	}
	if err := checkTopic(client, topic, o); err != nil {
		return nil, err
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("snapshot/kafka: partitions of topic %s: %w", topic, err)
	}
	s := &Store{client: client, topic: topic, opts: o, parts: parts,
		index: map[string]loc{}, next: map[int32]int64{}, done: make(chan struct{})}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	if err := s.build(ctx); err != nil {
		s.stopBg()
		return nil, err
	}
	s.producer, err = sarama.NewSyncProducerFromClient(client)
	if kafkaauth.Fatal(err) {
		s.stopBg()
		return nil, denied(client, "create the snapshot producer", "Write", topic, err)
	}
	if err != nil {
		s.stopBg()
		return nil, fmt.Errorf("snapshot/kafka: create producer: %w", err)
	}
	go s.poll()
	return s, nil
}

// checkTopic verifies that topic is compacted, creating it when asked to.
func checkTopic(client sarama.Client, topic string, o options) error {
	admin, err := sarama.NewClusterAdminFromClient(client) // not closed: Close would close the caller's client
	if err != nil {
		return fmt.Errorf("snapshot/kafka: admin client: %w", err)
	}
	// Ask with a Metadata request of our own that does not allow topic
	// auto-creation before the client (whose config the caller owns, and
	// sarama allows auto-creation by default) asks for the topic: a broker
	// with the stock auto.create.topics.enable=true would create it with
	// cleanup.policy=delete and the store would then refuse it.
	exists, err := kafkafetch.TopicExists(client, topic)
	if kafkaauth.Fatal(err) {
		return denied(client, "look up snapshot topic "+topic, "Describe", topic, err)
	}
	if err != nil {
		return fmt.Errorf("snapshot/kafka: look up topic %s: %w", topic, err)
	}
	if exists {
		err = client.RefreshMetadata(topic)
		if kafkaauth.Fatal(err) {
			return denied(client, "look up snapshot topic "+topic, "Describe", topic, err)
		}
	}
	if !exists || errors.Is(err, sarama.ErrUnknownTopicOrPartition) || isMissing(client, topic) {
		if !o.create {
			return fmt.Errorf("snapshot/kafka: topic %s does not exist; create it with cleanup.policy=compact "+
				"(kafka-topics.sh --create --topic %s --partitions N --replication-factor 3 --config cleanup.policy=compact), "+
				"or pass kafka.WithCreateTopic(partitions, replicationFactor) to have the store create it so", topic, topic)
		}
		compact := "compact"
		err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: o.createPartitions, ReplicationFactor: o.createReplication,
			ConfigEntries: map[string]*string{"cleanup.policy": &compact}}, false)
		if kafkaauth.Fatal(err) {
			return denied(client, "create snapshot topic "+topic, "Create", topic, err)
		}
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("snapshot/kafka: create topic %s: %w", topic, err)
		}
		if err := waitForTopic(client, topic); err != nil {
			return err
		}
	}
	entries, err := kafkafetch.TopicConfigSettled(context.Background(), admin, topic, 10*time.Second, "cleanup.policy")
	if kafkaauth.Fatal(err) {
		return denied(client, "read the configuration of snapshot topic "+topic+" to check that it is compacted", "DescribeConfigs", topic, err)
	}
	if err != nil {
		return fmt.Errorf("snapshot/kafka: read the configuration of topic %s: %w", topic, err)
	}
	policy := kafkafetch.CleanupPolicy(entries)
	if !strings.Contains(policy, "compact") {
		return fmt.Errorf("snapshot/kafka: topic %s has cleanup.policy=%s; a snapshot topic needs cleanup.policy=compact (kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact)", topic, policy, topic)
	}
	return nil
}

// denied describes an authorization error for op on the snapshot topic:
// an error matching kafka.ErrNotAuthorized (the same value as the event
// store's) that names the ACL to add. Such errors are never retried.
func denied(client sarama.Client, what, op, topic string, err error) error {
	return kafkaauth.Wrap(err, client.Config(), "snapshot/kafka: "+what, op, kafkaauth.Topic, topic, false)
}

func isMissing(client sarama.Client, topic string) bool {
	parts, err := client.Partitions(topic)
	return err != nil || len(parts) == 0
}

func waitForTopic(client sarama.Client, topic string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := client.RefreshMetadata(topic); err == nil && !isMissing(client, topic) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("snapshot/kafka: topic %s was created but its metadata did not appear within 10s", topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Load returns the stream's latest snapshot, fetching the one record the
// index points at, or an error matching [snapshot.ErrNotFound].
func (s *Store) Load(ctx context.Context, streamID string) (snapshot.Snapshot, error) {
	if s.closed.Load() {
		return snapshot.Snapshot{}, ErrClosed
	}
	for attempt := 0; ; attempt++ {
		s.mu.RLock()
		l, ok := s.index[streamID]
		s.mu.RUnlock()
		if !ok {
			return snapshot.Snapshot{}, fmt.Errorf("snapshot/kafka: stream %q in topic %s: %w", streamID, s.topic, snapshot.ErrNotFound)
		}
		snap, found, err := s.fetchAt(ctx, streamID, l)
		if err != nil || found {
			return snap, err
		}
		if attempt > 0 {
			return snapshot.Snapshot{}, fmt.Errorf("snapshot/kafka: stream %q: the indexed record %d/%d is gone: %w", streamID, l.partition, l.offset, snapshot.ErrNotFound)
		}
		// Compacted away: a newer record exists; index it and try again.
		if err := s.catchUp(ctx); err != nil {
			return snapshot.Snapshot{}, err
		}
	}
}

// fetchAt fetches the record at l and decodes it; found is false when the
// record there is gone (compacted) or belongs to another stream.
func (s *Store) fetchAt(ctx context.Context, streamID string, l loc) (snapshot.Snapshot, bool, error) {
	res, err := s.fetch(ctx, map[int32]int64{l.partition: l.offset}, 1<<20)
	if err != nil {
		return snapshot.Snapshot{}, false, err
	}
	r := res[l.partition]
	if r == nil || r.Err != nil { // out of range, deleted below the log start: gone
		return snapshot.Snapshot{}, false, nil
	}
	for _, rec := range r.Records {
		if rec.Offset != l.offset {
			continue
		}
		if string(rec.Key) != streamID || rec.Value == nil {
			return snapshot.Snapshot{}, false, nil
		}
		snap, err := decode(rec)
		if err != nil {
			return snapshot.Snapshot{}, false, fmt.Errorf("snapshot/kafka: stream %q, record %d/%d of topic %s: %w", streamID, l.partition, l.offset, s.topic, err)
		}
		return snap, true, nil
	}
	return snapshot.Snapshot{}, false, nil
}

// Save writes snap as a record of the topic and indexes it. It skips the
// write (returning nil) when the index already holds a newer snapshot of
// the stream, so that a slow writer does not replace a newer snapshot.
func (s *Store) Save(ctx context.Context, snap snapshot.Snapshot) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := snap.Validate(); err != nil {
		return err
	}
	s.mu.RLock()
	cur, ok := s.index[snap.StreamID]
	s.mu.RUnlock()
	if ok && cur.version > snap.Version {
		return nil
	}
	taken := snap.TakenAt
	if taken.IsZero() {
		taken = time.Now()
	}
	msg := &sarama.ProducerMessage{
		Topic: s.topic,
		Key:   sarama.StringEncoder(snap.StreamID),
		Value: sarama.ByteEncoder(snap.Data),
		Headers: []sarama.RecordHeader{
			{Key: []byte(HeaderVersion), Value: strconv.AppendInt(nil, snap.Version, 10)},
			{Key: []byte(HeaderType), Value: []byte(snap.Type)},
			{Key: []byte(HeaderSchemaVersion), Value: strconv.AppendInt(nil, int64(snap.SchemaVersion), 10)},
			{Key: []byte(HeaderTime), Value: []byte(wire.FormatTime(taken))},
		},
	}
	if snap.Data == nil {
		msg.Value = sarama.ByteEncoder([]byte{}) // never a tombstone
	}
	if snap.EventID != "" {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(HeaderEventID), Value: []byte(snap.EventID)})
	}
	p, off, err := s.sendMessage(ctx, msg)
	if err != nil {
		if kafkaauth.Fatal(err) {
			return denied(s.client, fmt.Sprintf("write snapshot of stream %q (version %d)", snap.StreamID, snap.Version), "Write", s.topic, err)
		}
		return fmt.Errorf("snapshot/kafka: write snapshot of stream %q (version %d) to topic %s: %w", snap.StreamID, snap.Version, s.topic, err)
	}
	s.mu.Lock()
	s.apply(snap.StreamID, loc{partition: p, offset: off, version: snap.Version})
	s.mu.Unlock()
	return nil
}

// sendMessage produces msg, giving up waiting when ctx is done (the record
// may still be written; that is harmless for a snapshot).
func (s *Store) sendMessage(ctx context.Context, msg *sarama.ProducerMessage) (int32, int64, error) {
	type result struct {
		p   int32
		off int64
		err error
	}
	ch := make(chan result, 1)
	go func() {
		p, off, err := s.producer.SendMessage(msg)
		ch <- result{p, off, err}
	}()
	select {
	case r := <-ch:
		return r.p, r.off, r.err
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

// Len returns the number of streams in the index.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.index)
}

// Skipped returns the number of records skipped because they were not
// valid snapshot records.
func (s *Store) Skipped() int64 { return s.skipped.Load() }

// Fetches returns the number of fetch requests brokers answered; tests and
// benchmarks use it to check that a load costs one fetch.
func (s *Store) Fetches() int64 { return s.fetches.Load() }

// Close stops polling and closes the producer. It does not close the
// client.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopBg()
	<-s.done
	return s.producer.Close()
}
