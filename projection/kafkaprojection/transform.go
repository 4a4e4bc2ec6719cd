package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
)

// Transformer runs a projection whose output is records of other Kafka
// topics, exactly once: the records the handlers [Emit] for a batch of input
// events and the consumer offsets after the batch are written in one Kafka
// transaction. A crash, a rebalance or a handler failure before the commit
// leaves neither visible to read_committed readers, and the batch is
// processed again; after the commit both are, and the batch is never
// processed again. This is Kafka Streams' consume-transform-produce loop,
// for derived streams (map, filter, aggregate into another topic).
//
// Use it as the projection's checkpoint store and its source:
//
//	tr, err := kafkaprojection.NewTransformer(ctx, client, "orders", "order-shipments")
//	r, err := projection.New("order-shipments", sd, handlers, projection.WithCheckpoints(tr))
//	err = r.Run(ctx, tr.Source())
//
// Each input partition has its own transactional producer with the
// transactional ID "<prefix>-<partition>", so when a partition moves to
// another instance, the new owner's producer fences the old one: a zombie
// can no longer commit (classic Kafka exactly-once, which works with every
// broker since 0.11).
type Transformer struct {
	src      *Source
	client   sarama.Client
	group    string
	topic    string
	prefix   string
	brokers  []string
	cfg      sarama.Config
	mu       sync.Mutex
	producer map[int32]sarama.SyncProducer
}

// WithTransactionalIDPrefix sets the prefix of a [Transformer]'s
// transactional IDs; other constructors ignore it. The default is
// "kafkaes-transform-<group>". Instances of the same transformer must use
// the same prefix; different transformers must not.
func WithTransactionalIDPrefix(p string) Option { return func(o *options) { o.txnPrefix = p } }

// NewTransformer returns a transformer that consumes topic with the
// consumer group group on the cluster that client is connected to. Its
// [Source] is made by [NewSource] with opts (which also take
// [WithTransactionalIDPrefix]); its transactional producers are opened
// from copies of the same configuration (transactions need Kafka 0.11).
// It never closes client; ctx bounds the connecting.
func NewTransformer(ctx context.Context, client sarama.Client, topic, group string, opts ...Option) (*Transformer, error) {
	// Every offset is committed in the transformer's transactions: the
	// source must commit none (see NewProcessSource).
	src, err := NewProcessSource(ctx, client, topic, group, opts...)
	if err != nil {
		return nil, err
	}
	addrs, _, err := fromClient(client, "transformer of "+topic)
	if err != nil {
		_ = src.Close()
		return nil, err
	}
	prefix := src.txnPrefix
	if prefix == "" {
		prefix = "kafkaes-transform-" + group
	}
	return &Transformer{src: src, client: src.client, group: group, topic: topic, brokers: addrs,
		cfg: *src.client.Config(), prefix: prefix, producer: map[int32]sarama.SyncProducer{}}, nil
}

// Source returns the transformer's consumer-group source.
func (t *Transformer) Source() *Source { return t.src }

// Close closes the producers and the source.
func (t *Transformer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for p, pr := range t.producer {
		errs = append(errs, pr.Close())
		delete(t.producer, p)
	}
	errs = append(errs, t.src.Close())
	return errors.Join(errs...)
}

// Load returns the group's committed offsets of the input topic (only
// stable ones: offsets of open transactions are waited for).
func (t *Transformer) Load(ctx context.Context, _ string) (eventstore.Checkpoint, error) {
	return committedOffsets(ctx, t.client, t.group, t.topic)
}

type emitKey struct{}

type kafkaTxn struct {
	t    *Transformer
	part int32
	msgs []*sarama.ProducerMessage
	done bool
}

// Emit adds msg to the output of the current batch. It is written when the
// batch commits, in the same Kafka transaction as the input offsets. Call
// it from handlers of a runner whose checkpoint store is a [Transformer];
// elsewhere it fails.
func Emit(ctx context.Context, msg *sarama.ProducerMessage) error {
	tx, ok := ctx.Value(emitKey{}).(*kafkaTxn)
	if !ok {
		return errors.New("kafkaprojection: Emit outside a transformer's batch; use projection.WithCheckpoints(transformer)")
	}
	if msg == nil || msg.Topic == "" {
		return errors.New("kafkaprojection: Emit needs a message with a topic")
	}
	tx.msgs = append(tx.msgs, msg)
	return nil
}

// EmitEvent is [Emit] for an event of a derived stream in the kafkaes wire
// format (key = stream ID, headers es.type, es.version, es.id, es.time and
// metadata), so that kafkaes projections and stores can read the output
// topic. version is the event's version in its derived stream (1, 2, ...;
// the transformer must know it, for example from the input event's
// version for a one-to-one map), at is its time.
func EmitEvent(ctx context.Context, topic, streamID string, version int64, ev eventstore.Event, at time.Time) error {
	if ev.ID == "" {
		return errors.New("kafkaprojection: EmitEvent needs an event ID; derive it from the input event's ID so a repeated batch emits the same IDs")
	}
	if ev.Type == "" || streamID == "" || version < 1 {
		return fmt.Errorf("kafkaprojection: EmitEvent needs a type, a stream ID and a version >= 1 (got %q, %q, %d)", ev.Type, streamID, version)
	}
	key, hs := wire.Encode(streamID, version, ev, at)
	return Emit(ctx, &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(ev.Data), Headers: hs})
}

// Begin starts collecting the output of a batch of partition.
func (t *Transformer) Begin(ctx context.Context, _ string, partition int32) (context.Context, projection.Txn, error) {
	tx := &kafkaTxn{t: t, part: partition}
	return context.WithValue(ctx, emitKey{}, tx), tx, nil
}

func (t *Transformer) producerFor(p int32) (sarama.SyncProducer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pr, ok := t.producer[p]; ok {
		return pr, nil
	}
	cfg := producerConfig(t.cfg)
	cfg.Producer.Transaction.ID = fmt.Sprintf("%s-%d", t.prefix, p)
	pr, err := sarama.NewSyncProducer(t.brokers, &cfg)
	if err != nil {
		return nil, t.denied(fmt.Sprintf("kafkaprojection: transactional producer %s", cfg.Producer.Transaction.ID), err)
	}
	t.producer[p] = pr
	return pr, nil
}

func (t *Transformer) dropProducer(p int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pr, ok := t.producer[p]; ok {
		_ = pr.Close()
		delete(t.producer, p)
	}
}

// Commit writes the batch's output and the input offset next in one Kafka
// transaction. from is not checked here: fencing is the transactional ID's.
func (tx *kafkaTxn) Commit(ctx context.Context, partition int32, _ int64, next int64) error {
	if tx.done {
		return errors.New("kafkaprojection: transaction already finished")
	}
	tx.done = true
	if err := ctx.Err(); err != nil {
		return err
	}
	t := tx.t
	// The clients never auto-create a topic (see clientConfig): refuse an
	// output topic that does not exist with an error that says so, before
	// the transaction starts.
	for _, m := range tx.msgs {
		if _, err := t.client.Partitions(m.Topic); errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return missingTopic("output", m.Topic, howPlain)
		}
	}
	pr, err := t.producerFor(partition)
	if err != nil {
		return err
	}
	fail := func(what string, err error) error {
		if pr.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 {
			_ = pr.AbortTxn()
		}
		// Recreate the producer after any error: a fenced or fatally
		// failed transactional producer cannot be used again.
		t.dropProducer(partition)
		if err := t.denied(fmt.Sprintf("kafkaprojection: %s (transaction of %s/%d)", what, t.topic, partition), err); kafkaauth.Fatal(err) {
			return err // a missing ACL or a refused login does not heal: Run ends
		}
		err = fmt.Errorf("kafkaprojection: %s (transaction of %s/%d): %w", what, t.topic, partition, err)
		if errors.Is(err, sarama.ErrProducerFenced) || strings.Contains(err.Error(), "fenced") {
			return fmt.Errorf("%w: %w", projection.ErrCheckpointMoved, err)
		}
		return err
	}
	if err := pr.BeginTxn(); err != nil {
		return fail("begin", err)
	}
	if len(tx.msgs) > 0 {
		if err := pr.SendMessages(tx.msgs); err != nil {
			return fail("produce output", err)
		}
	}
	offsets := map[string][]*sarama.PartitionOffsetMetadata{t.topic: {{Partition: partition, Offset: next}}}
	if err := pr.AddOffsetsToTxn(offsets, t.group); err != nil {
		return fail("add offsets", err)
	}
	if err := pr.CommitTxn(); err != nil {
		return fail("commit", err)
	}
	return nil
}

// denied turns an authorization error of the transformer's producer into
// an [*AuthorizationError] naming what was denied (the broker's code does
// not say which resource): Write on the transactional ID prefix, Read on
// the group (the offsets committed in the transaction), Write on the
// output topic a message was refused for. An authentication error matches
// [ErrNotAuthenticated]; any other error is returned unchanged.
func (t *Transformer) denied(what string, err error) error {
	var pes sarama.ProducerErrors
	if errors.As(err, &pes) {
		for _, pe := range pes {
			if pe != nil && kafkaauth.Fatal(pe.Err) {
				topic := ""
				if pe.Msg != nil {
					topic = pe.Msg.Topic
				}
				return kafkaauth.Wrap(pe.Err, &t.cfg, what, "Write", kafkaauth.Topic, topic, false)
			}
		}
		return err
	}
	switch {
	case errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed):
		return kafkaauth.Wrap(err, &t.cfg, what, "Write", kafkaauth.TransactionalID, t.prefix, true)
	case errors.Is(err, sarama.ErrGroupAuthorizationFailed):
		return kafkaauth.Wrap(err, &t.cfg, what, "Read", kafkaauth.Group, t.group, false)
	case errors.Is(err, sarama.ErrTopicAuthorizationFailed):
		return kafkaauth.Wrap(err, &t.cfg, what, "Write", kafkaauth.Topic, "(the output topics)", false)
	case errors.Is(err, sarama.ErrClusterAuthorizationFailed):
		return kafkaauth.Wrap(err, &t.cfg, what, "IdempotentWrite", kafkaauth.Cluster, "kafka-cluster", false)
	}
	return kafkaauth.Wrap(err, &t.cfg, what, "", "", "", false) // authentication errors; others unchanged
}

// Rollback drops the batch's output.
func (tx *kafkaTxn) Rollback() error {
	tx.done = true
	tx.msgs = nil
	return nil
}
