package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	metrics "github.com/rcrowley/go-metrics"

	"github.com/kafkaes/kafkaes/internal/kafkaauth"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

// txnProducer is the store's transactional producer, written on sarama's
// protocol requests (InitProducerId, AddPartitionsToTxn, Produce, EndTxn)
// rather than on sarama's producer. sarama's producer sends the first
// record of a transaction alone and the rest in further requests (an
// idempotent producer has one request in flight, and a partition is muted
// while its batch is in flight), each preceded by its own
// AddPartitionsToTxn: about five Produce and two AddPartitionsToTxn round
// trips per group commit of 30 appends over 4 partitions. txnProducer adds
// all partitions of a group in one AddPartitionsToTxn and writes the whole
// group in one Produce request per leader broker, with one record batch per
// partition: two round trips before the commit, whatever the group's size.
//
// It is an idempotent producer (producer ID, epoch and per-partition
// sequence numbers, acks=all) and is used by one worker goroutine at a time.
// After an error that leaves its state uncertain it must be re-initialised
// (needInit): InitProducerId bumps the epoch, which aborts any transaction
// still open under this transactional ID and resets the sequence numbers.
type txnProducer struct {
	client  sarama.Client
	id      string
	topic   string
	timeout time.Duration // the transaction timeout
	codec   sarama.CompressionCodec
	level   int
	version sarama.KafkaVersion
	ackWait time.Duration // Producer.Timeout: how long the broker may wait for acks=all

	pid   int64
	epoch int16
	seq   map[topicPart]int32 // next sequence number per partition
	added map[topicPart]bool  // partitions in the open transaction
	// wrote holds the partitions (of any topic) that records were sent
	// to under this transactional ID, across re-initialisations and
	// replacements of the producer (the worker owns the map): where
	// records of an earlier transaction may still wait for a marker
	// (settle.go). Nil keeps no record.
	wrote map[topicPart]bool
	// sent holds, per partition, the offsets [first, last] of the records
	// the open transaction wrote there; onCommit, when set, receives it
	// when the transaction commits.
	sent     map[topicPart][2]int64
	onCommit func(map[topicPart][2]int64)
	// offsets is set when consumer offsets were added to the open
	// transaction (commitOffsets).
	offsets  bool
	inTxn    bool
	needInit bool
	// pendingCommit is set while a settling transaction's commit
	// (commitSettle) may not have reached the coordinator: the
	// transaction may hold partitions whose acknowledged records wait for
	// their commit marker, and an abort of it, such as the one
	// InitProducerId makes of a transaction left open, would decide those
	// records as aborted. init ends it with a commit before anything else.
	pendingCommit bool
	// settleEnded, when set, is told when init found the pending commit
	// refused because the coordinator had ended the transaction itself
	// (errSettleEnded).
	settleEnded func(error)

	// hooks, when set (tests only), receives a line per request and
	// injects EndTxn failures (see tracer).
	hooks tracer
	// onNetErr, when set, is called when a coordinator request fails on
	// the network; netErr records that one did since begin.
	onNetErr func()
	netErr   bool
	// deniedTopic is the topic whose partitions AddPartitionsToTxn last
	// refused for want of Write ("" before any), for authErr.
	deniedTopic string
}

// errRecheck is returned by send when a request of the transaction met a
// network error before any record was written: a broker may have
// restarted, so the caller checks for records left without markers before
// it writes (settle.go); the transaction is open and holds no records.
var errRecheck = errors.New("kafka: a broker connection broke; checking for records left without transaction markers before writing")

// txnRetries bounds the retries of a coordinator request that met a
// retriable error (CONCURRENT_TRANSACTIONS while the broker writes the
// previous transaction's markers, a coordinator moving); with txnBackoff
// they take about 2.5s.
const txnRetries = 60

// producerEpoch is a producer ID and epoch.
type producerEpoch struct {
	pid   int64
	epoch int16
}

// newTxnProducer creates the transactional producer id and initialises
// it. pending, when set, is the epoch of an earlier producer of id whose
// settling transaction's commit is pending (see pendingCommit): it is
// committed first. settleEnded (see txnProducer.settleEnded) may be nil.
func newTxnProducer(ctx context.Context, addrs []string, base *sarama.Config, id, topic string, timeout time.Duration, hooks tracer, pending *producerEpoch, settleEnded func(error)) (*txnProducer, error) {
	cfg := *base
	cfg.MetricRegistry = metrics.NewRegistry()
	client, err := sarama.NewClient(addrs, &cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka: create the client of transactional producer %q: %w", id, err)
	}
	p := &txnProducer{
		client: client, id: id, topic: topic, timeout: timeout,
		codec: cfg.Producer.Compression, level: cfg.Producer.CompressionLevel,
		version: cfg.Version, ackWait: cfg.Producer.Timeout, needInit: true, hooks: hooks,
		sent: map[topicPart][2]int64{}, settleEnded: settleEnded,
	}
	if pending != nil {
		p.pid, p.epoch, p.pendingCommit = pending.pid, pending.epoch, true
	}
	if err := p.init(ctx); err != nil {
		_ = client.Close()
		return nil, err
	}
	return p, nil
}

func (p *txnProducer) close() { _ = p.client.Close() }

// authErr describes a denied coordinator request: a transactional ID needs
// Write on the PREFIXED pattern that covers the store's IDs, a topic added
// to the transaction needs Write.
func (p *txnProducer) authErr(what string, err error) error {
	what = fmt.Sprintf("kafka: %s (transactional ID %q)", what, p.id)
	if errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		topic := p.topic
		if p.deniedTopic != "" {
			topic = p.deniedTopic
		}
		return kafkaauth.Wrap(err, p.client.Config(), what, "Write", kafkaauth.Topic, topic, false)
	}
	// The IDs are <prefix>-<n>; the default prefix starts with
	// TransactionalIDACLPrefix(topic), which the ACL should name.
	prefix := p.id
	if i := strings.LastIndex(prefix, "-"); i > 0 {
		prefix = prefix[:i]
	}
	if def := TransactionalIDACLPrefix(p.topic); strings.HasPrefix(prefix, def) {
		prefix = def
	}
	return kafkaauth.Wrap(err, p.client.Config(), what, "Write", kafkaauth.TransactionalID, prefix, true)
}

// versions returns the request versions to use: InitProducerId,
// AddPartitionsToTxn and EndTxn, Produce (as sarama's producer picks them).
func (p *txnProducer) versions() (initV, txnV, produceV int16) {
	initV, txnV, produceV = 3, 1, 7
	if p.version.IsAtLeast(sarama.V2_7_0_0) {
		initV, txnV = 4, 2
	}
	if p.version.IsAtLeast(sarama.V2_8_0_0) {
		txnV, produceV = 3, 9
	} else if p.version.IsAtLeast(sarama.V2_4_0_0) {
		produceV = 8
	}
	return initV, txnV, produceV
}

// coordinator runs a request against the transaction coordinator, retrying
// retriable errors; run returns the response's error code.
func (p *txnProducer) coordinator(ctx context.Context, what string, retryNetwork bool, run func(*sarama.Broker) (sarama.KError, error)) error {
	for attempt := 0; ; attempt++ {
		b, err := p.client.TransactionCoordinator(p.id)
		if kafkaauth.Fatal(err) {
			// FindCoordinator denied: no ACL on the transactional ID, or
			// the credentials are wrong. Retrying does not heal it.
			return p.authErr(what, err)
		}
		if err == nil {
			var kerr sarama.KError
			kerr, err = run(b)
			switch {
			case err != nil:
				p.netErr = true
				if p.onNetErr != nil {
					p.onNetErr()
				}
				_ = b.Close()
				_ = p.client.RefreshTransactionCoordinator(p.id)
				if !retryNetwork {
					return fmt.Errorf("kafka: %s (transactional ID %q): %w", what, p.id, err)
				}
			case kerr == sarama.ErrNoError:
				return nil
			case kerr == sarama.ErrConcurrentTransactions:
				err = kerr
				if p.hooks != nil {
					p.tracef("%s: CONCURRENT_TRANSACTIONS (attempt %d): retrying", what, attempt+1)
				}
			case kerr == sarama.ErrNotCoordinatorForConsumer || kerr == sarama.ErrConsumerCoordinatorNotAvailable || kerr == sarama.ErrOffsetsLoadInProgress:
				_ = p.client.RefreshTransactionCoordinator(p.id)
				err = kerr
			case kafkaauth.Fatal(kerr):
				return p.authErr(what, kerr)
			default:
				if kerr == sarama.ErrProducerFenced {
					// sarama has no text for this code ("Unknown error,
					// how did this happen?").
					return fmt.Errorf("kafka: %s (transactional ID %q): PRODUCER_FENCED: the coordinator moved the producer to a newer epoch (it aborted a transaction open longer than the transaction timeout, or another producer took the transactional ID): %w", what, p.id, kerr)
				}
				return fmt.Errorf("kafka: %s (transactional ID %q): %w", what, p.id, kerr)
			}
		}
		if attempt >= txnRetries {
			return fmt.Errorf("kafka: %s (transactional ID %q) failed after %d attempts: %w", what, p.id, attempt+1, err)
		}
		if serr := ctxtime.Sleep(ctx, txnBackoff(attempt, txnRetries)); serr != nil {
			return fmt.Errorf("kafka: %s (transactional ID %q): %w (last error: %w)", what, p.id, serr, err)
		}
	}
}

// init gets a producer ID and a new epoch for the transactional ID. This
// fences older producers with the same ID and aborts a transaction they
// left open.
func (p *txnProducer) init(ctx context.Context) error {
	if p.pendingCommit {
		// A new epoch would abort the settling transaction: commit it
		// first. A definite refusal (it was ended by the coordinator
		// already) lets the producer go on; a failure that says nothing
		// keeps it pending.
		if err := p.commitSettle(ctx); err != nil {
			if p.pendingCommit {
				return err
			}
			if p.settleEnded != nil {
				p.settleEnded(err)
			}
		}
	}
	initV, _, _ := p.versions()
	err := p.coordinator(ctx, "initialise the transactional producer", true, func(b *sarama.Broker) (sarama.KError, error) {
		res, err := b.InitProducerID(&sarama.InitProducerIDRequest{
			Version: initV, TransactionalID: &p.id, TransactionTimeout: p.timeout,
			ProducerID: -1, ProducerEpoch: -1,
		})
		if err != nil {
			return 0, err
		}
		if res.Err == sarama.ErrNoError {
			p.pid, p.epoch = res.ProducerID, res.ProducerEpoch
		}
		return res.Err, nil
	})
	if p.hooks != nil {
		p.tracef("init: producer %d epoch %d: %v", p.pid, p.epoch, err)
	}
	if err != nil {
		return err
	}
	p.seq = map[topicPart]int32{}
	p.inTxn, p.needInit = false, false
	p.added = map[topicPart]bool{}
	return nil
}

// begin starts a transaction (locally: partitions are added when records
// are sent), re-initialising the producer first if an error asked for it.
func (p *txnProducer) begin(ctx context.Context) error {
	if p.needInit {
		if err := p.init(ctx); err != nil {
			return err
		}
	}
	if p.inTxn {
		return errors.New("kafka: internal error: a transaction is already open")
	}
	p.inTxn = true
	p.netErr = false
	p.offsets = false
	clear(p.added)
	clear(p.sent)
	return nil
}

// topicPart is a partition of a topic.
type topicPart struct {
	topic string
	part  int32
}

// topicOf is the topic of m: its own, or the store's when it names none.
func (p *txnProducer) topicOf(m *sarama.ProducerMessage) string {
	if m.Topic == "" {
		return p.topic
	}
	return m.Topic
}

// send writes msgs (to p.topic unless a message names another topic,
// partitions set) in the open transaction: one AddPartitionsToTxn for the
// partitions not yet in it, then one Produce per leader broker, all brokers
// at once. On success every message's Offset is set. A partition the
// broker refused is reported as a sarama.ProducerErrors entry per message;
// any error leaves the transaction to be aborted.
func (p *txnProducer) send(ctx context.Context, msgs []*sarama.ProducerMessage) error {
	if !p.inTxn {
		return errors.New("kafka: internal error: send outside a transaction")
	}
	byPart := map[topicPart][]*sarama.ProducerMessage{}
	var parts, newParts []topicPart
	for _, m := range msgs {
		tp := topicPart{p.topicOf(m), m.Partition}
		if byPart[tp] == nil {
			parts = append(parts, tp)
			if !p.added[tp] {
				newParts = append(newParts, tp)
			}
		}
		byPart[tp] = append(byPart[tp], m)
	}
	_, _, produceV := p.versions()
	if err := p.addTopicPartitions(ctx, newParts); err != nil {
		return err
	}
	if p.netErr {
		p.netErr = false
		return errRecheck
	}

	if p.wrote != nil {
		for _, tp := range parts {
			p.wrote[tp] = true // before the request: its records may land even if it fails
		}
	}

	// One request per leader.
	reqs := map[*sarama.Broker]*sarama.ProduceRequest{}
	reqParts := map[*sarama.Broker][]topicPart{}
	for _, tp := range parts {
		b, err := p.client.Leader(tp.topic, tp.part)
		if err != nil {
			p.needInit = true
			return fmt.Errorf("kafka: find the leader of %s/%d: %w", tp.topic, tp.part, err)
		}
		req := reqs[b]
		if req == nil {
			req = &sarama.ProduceRequest{
				TransactionalID: &p.id, RequiredAcks: sarama.WaitForAll,
				Timeout: int32(p.ackWait / time.Millisecond), Version: produceV,
			}
			reqs[b] = req
		}
		req.AddBatch(tp.topic, tp.part, p.batch(tp, byPart[tp]))
		reqParts[b] = append(reqParts[b], tp)
	}
	type result struct {
		b   *sarama.Broker
		res *sarama.ProduceResponse
		err error
	}
	results := make(chan result, len(reqs))
	var wg sync.WaitGroup
	for b, req := range reqs {
		wg.Go(func() {
			res, err := b.Produce(req)
			results <- result{b, res, err}
		})
	}
	wg.Wait()
	close(results)
	var perrs sarama.ProducerErrors
	var netErr error
	for r := range results {
		if r.err == nil && r.res == nil {
			r.err = errors.New("empty produce response")
		}
		if r.err != nil {
			_ = r.b.Close()
			p.refresh(reqParts[r.b])
			netErr = fmt.Errorf("kafka: produce to broker %d: %w", r.b.ID(), r.err)
			continue
		}
		for _, tp := range reqParts[r.b] {
			ms := byPart[tp]
			blk := r.res.GetBlock(tp.topic, tp.part)
			kerr := sarama.ErrIncompleteResponse
			if blk != nil {
				kerr = blk.Err
			}
			if kerr != sarama.ErrNoError {
				if kerr == sarama.ErrNotLeaderForPartition || kerr == sarama.ErrLeaderNotAvailable {
					_ = p.client.RefreshMetadata(tp.topic)
				}
				for _, m := range ms {
					perrs = append(perrs, &sarama.ProducerError{Msg: m, Err: kerr})
				}
				continue
			}
			if p.hooks != nil {
				p.tracef("produced %d records to %s at offset %d (producer %d epoch %d seq %d)", len(ms), tp, blk.Offset, p.pid, p.epoch, p.seq[tp])
			}
			p.seq[tp] += int32(len(ms))
			last := blk.Offset + int64(len(ms)) - 1
			if r, ok := p.sent[tp]; ok {
				p.sent[tp] = [2]int64{min(r[0], blk.Offset), max(r[1], last)}
			} else {
				p.sent[tp] = [2]int64{blk.Offset, last}
			}
			for i, m := range ms {
				m.Offset = blk.Offset + int64(i)
			}
		}
	}
	if netErr != nil || len(perrs) > 0 {
		if p.hooks != nil {
			p.tracef("produce failed (producer %d epoch %d): %v; %v", p.pid, p.epoch, netErr, perrs)
		}
	}
	switch {
	case netErr != nil:
		p.needInit = true
		return netErr
	case len(perrs) > 0:
		p.needInit = true // sequence numbers are uncertain now
		return perrs
	}
	return nil
}

// String names tp in traces: the partition alone for the store's topic.
func (tp topicPart) String() string { return fmt.Sprintf("%s/%d", tp.topic, tp.part) }

// refresh refreshes the metadata of the topics of parts.
func (p *txnProducer) refresh(parts []topicPart) {
	seen := map[string]bool{}
	for _, tp := range parts {
		if !seen[tp.topic] {
			seen[tp.topic] = true
			_ = p.client.RefreshMetadata(tp.topic)
		}
	}
}

// addTopicPartitions adds parts to the open transaction with one
// AddPartitionsToTxn request, retrying retriable errors. Partitions already
// added are added again harmlessly; an error leaves the producer to be
// re-initialised.
func (p *txnProducer) addTopicPartitions(ctx context.Context, parts []topicPart) error {
	if len(parts) == 0 {
		return nil
	}
	byTopic := map[string][]int32{}
	for _, tp := range parts {
		byTopic[tp.topic] = append(byTopic[tp.topic], tp.part)
	}
	if !p.inTxn {
		return errors.New("kafka: internal error: add partitions outside a transaction")
	}
	_, txnV, _ := p.versions()
	err := p.coordinator(ctx, "add partitions to the transaction", true, func(b *sarama.Broker) (sarama.KError, error) {
		res, err := b.AddPartitionsToTxn(&sarama.AddPartitionsToTxnRequest{
			Version: txnV, TransactionalID: p.id, ProducerID: p.pid, ProducerEpoch: p.epoch,
			TopicPartitions: byTopic,
		})
		if err != nil {
			return 0, err
		}
		worst := sarama.ErrNoError
		for topic, pes := range res.Errors {
			for _, pe := range pes {
				if pe.Err != sarama.ErrNoError && (worst == sarama.ErrNoError || worst == sarama.ErrOperationNotAttempted) {
					worst = pe.Err
				}
				if pe.Err == sarama.ErrTopicAuthorizationFailed {
					p.deniedTopic = topic
				}
			}
		}
		return worst, nil
	})
	if p.hooks != nil {
		p.tracef("add partitions %v (producer %d epoch %d): %v", parts, p.pid, p.epoch, err)
	}
	if err != nil {
		p.needInit = true
		return err
	}
	for _, tp := range parts {
		p.added[tp] = true
	}
	return nil
}

// batch builds the transactional record batch of one partition.
func (p *txnProducer) batch(tp topicPart, ms []*sarama.ProducerMessage) *sarama.RecordBatch {
	first := ms[0].Timestamp.Truncate(time.Millisecond)
	codec := p.codec
	if codec != sarama.CompressionNone && batchBytes(ms) < compressMinBytes {
		codec = sarama.CompressionNone // see compressMinBytes
	}
	rb := &sarama.RecordBatch{
		Version: 2, Codec: codec, CompressionLevel: p.level,
		ProducerID: p.pid, ProducerEpoch: p.epoch, FirstSequence: p.seq[tp], IsTransactional: true,
		FirstTimestamp: first, MaxTimestamp: first, LastOffsetDelta: int32(len(ms) - 1),
		Records: make([]*sarama.Record, len(ms)),
	}
	for i, m := range ms {
		ts := m.Timestamp.Truncate(time.Millisecond)
		if ts.After(rb.MaxTimestamp) {
			rb.MaxTimestamp = ts
		}
		rec := &sarama.Record{OffsetDelta: int64(i), TimestampDelta: ts.Sub(first)}
		if m.Key != nil {
			rec.Key, _ = m.Key.Encode() // ByteEncoder: never fails
		}
		if m.Value != nil {
			rec.Value, _ = m.Value.Encode()
		}
		if len(m.Headers) > 0 {
			rec.Headers = make([]*sarama.RecordHeader, len(m.Headers))
			for j := range m.Headers {
				rec.Headers[j] = &m.Headers[j]
			}
		}
		rb.Records[i] = rec
	}
	return rb
}

// end commits or aborts the open transaction. A commit whose request
// failed on the network is not retried (its outcome is unknown); the caller
// must treat the producer as needing re-initialisation after any error.
func (p *txnProducer) end(ctx context.Context, commit bool) error {
	if !p.inTxn {
		return nil
	}
	if len(p.added) == 0 && !p.offsets {
		p.inTxn = false // nothing was sent: nothing to end on the broker
		return nil
	}
	what := "commit the transaction"
	if !commit {
		what = "abort the transaction"
	}
	var injected error
	if p.hooks != nil {
		var send bool
		send, injected = p.hooks.endTxn(commit)
		if !send {
			if p.hooks != nil {
				p.tracef("%s: not sent (test): %v", what, injected)
			}
			p.needInit, p.inTxn = true, false
			return injected
		}
	}
	err := p.coordinator(ctx, what, !commit, p.endTxn(commit))
	if injected != nil {
		if p.hooks != nil {
			p.tracef("%s: the broker answered %v, lost (test)", what, err)
		}
		err = injected
	}
	if p.hooks != nil {
		p.tracef("%s (producer %d epoch %d, partitions %v): %v", what, p.pid, p.epoch, p.added, err)
	}
	if err != nil {
		p.needInit = true
	}
	p.inTxn = false
	if err == nil && commit && p.onCommit != nil && len(p.sent) > 0 {
		p.onCommit(p.sent)
	}
	return err
}

// errSettleEnded is returned by commitSettle when the coordinator had
// ended the settling transaction itself.
var errSettleEnded = errors.New("kafka: the transaction coordinator ended the settling transaction before its commit arrived (it aborts a transaction open longer than the transaction timeout, and a producer with the same transactional ID fences this one): the records it was to commit may have been aborted with it")

// commitSettle ends the open settling transaction, which holds no records
// of its own, with a commit (settle.go). Unlike end it retries network
// errors with the same producer epoch, and it sends the EndTxn even when
// AddPartitionsToTxn failed (the partitions may have been added): a
// repeated commit is answered with success, and an abort of the
// transaction would also abort the acknowledged records it settles. Until
// the commit's outcome is known the producer stays pendingCommit, and
// init commits again before it takes a new epoch. An EndTxn refused with
// INVALID_TXN_STATE found no open transaction (no partition was added):
// nothing was settled, and the caller's next check finds the records
// again.
func (p *txnProducer) commitSettle(ctx context.Context) error {
	p.pendingCommit = true
	err := p.coordinator(ctx, "commit the settling transaction", true, p.endTxn(true))
	if p.hooks != nil {
		p.tracef("commit the settling transaction (producer %d epoch %d, partitions %v): %v", p.pid, p.epoch, p.added, err)
	}
	switch {
	case err == nil || errors.Is(err, sarama.ErrInvalidTxnState):
		p.pendingCommit, p.inTxn = false, false
		return nil
	case errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch):
		p.pendingCommit, p.inTxn, p.needInit = false, false, true
		return fmt.Errorf("%w: %w", errSettleEnded, err)
	}
	p.needInit = true
	return err
}

// endTxn returns the EndTxn request of the producer's epoch, for
// coordinator.
func (p *txnProducer) endTxn(commit bool) func(*sarama.Broker) (sarama.KError, error) {
	_, txnV, _ := p.versions()
	return func(b *sarama.Broker) (sarama.KError, error) {
		res, err := b.EndTxn(&sarama.EndTxnRequest{
			Version: txnV, TransactionalID: p.id, ProducerID: p.pid, ProducerEpoch: p.epoch,
			TransactionResult: commit,
		})
		if err != nil {
			return 0, err
		}
		return res.Err, nil
	}
}

func (p *txnProducer) tracef(format string, args ...any) {
	if p.hooks != nil {
		p.hooks.tracef(p.id+": "+format, args...)
	}
}

// groupFencedError is the error of commitOffsets when the consumer group
// refused the offsets because the committing member is no longer the
// owner of its partitions (a rebalance: ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS).
type groupFencedError struct {
	group string
	err   sarama.KError
}

func (e *groupFencedError) Error() string {
	return fmt.Sprintf("kafka: consumer group %s refused the transaction's offsets: %v (the partitions moved to another member)", e.group, e.err)
}

func (e *groupFencedError) Unwrap() error { return e.err }

// groupFenced reports whether the group coordinator's code kerr means that
// the committing member no longer owns its partitions.
func groupFenced(kerr sarama.KError) bool {
	switch kerr {
	case sarama.ErrIllegalGeneration, sarama.ErrUnknownMemberId, sarama.ErrFencedInstancedId, sarama.ErrRebalanceInProgress:
		return true
	}
	return false
}

// commitOffsets adds consumer offsets to the open transaction (KIP-98's
// AddOffsetsToTxn, then TxnOffsetCommit v3 to the group coordinator with
// the member's generation, KIP-447): they become the group's committed
// offsets if and only if the transaction commits. A member that is no
// longer the owner of its partitions gets a *groupFencedError.
func (p *txnProducer) commitOffsets(ctx context.Context, o *ConsumerOffsets) error {
	if !p.inTxn {
		return errors.New("kafka: internal error: commit offsets outside a transaction")
	}
	_, txnV, _ := p.versions()
	err := p.coordinator(ctx, "add offsets to the transaction", true, func(b *sarama.Broker) (sarama.KError, error) {
		res, err := b.AddOffsetsToTxn(&sarama.AddOffsetsToTxnRequest{
			Version: min(txnV, 3), TransactionalID: p.id, ProducerID: p.pid, ProducerEpoch: p.epoch, GroupID: o.Group,
		})
		if err != nil {
			return 0, err
		}
		return res.Err, nil
	})
	if p.hooks != nil {
		p.tracef("add offsets of group %s (producer %d epoch %d): %v", o.Group, p.pid, p.epoch, err)
	}
	if err != nil {
		p.needInit = true
		return err
	}
	p.offsets = true
	parts := make([]*sarama.PartitionOffsetMetadata, 0, len(o.Offsets))
	for part, off := range o.Offsets {
		parts = append(parts, &sarama.PartitionOffsetMetadata{Partition: part, Offset: off, LeaderEpoch: -1})
	}
	req := &sarama.TxnOffsetCommitRequest{
		Version: 3, TransactionalID: p.id, GroupID: o.Group, ProducerID: p.pid, ProducerEpoch: p.epoch,
		GenerationID: o.GenerationID, MemberID: o.MemberID, GroupInstanceID: o.GroupInstanceID,
		Topics: map[string][]*sarama.PartitionOffsetMetadata{o.Topic: parts},
	}
	for attempt := 0; ; attempt++ {
		b, err := p.client.Coordinator(o.Group)
		var kerr sarama.KError
		if err == nil {
			var res *sarama.TxnOffsetCommitResponse
			if res, err = b.TxnOffsetCommit(req); err != nil {
				_ = b.Close()
			} else {
				for _, pes := range res.Topics {
					for _, pe := range pes {
						if pe.Err != sarama.ErrNoError && kerr == sarama.ErrNoError {
							kerr = pe.Err
						}
					}
				}
			}
		}
		if p.hooks != nil {
			p.tracef("commit offsets %v of group %s generation %d: %v %v", o.Offsets, o.Group, o.GenerationID, err, kerr)
		}
		switch {
		case err == nil && kerr == sarama.ErrNoError:
			return nil
		case err == nil && groupFenced(kerr):
			return &groupFencedError{group: o.Group, err: kerr}
		case err == nil && kafkaauth.Fatal(kerr):
			return p.authErr("commit the consumer offsets of group "+o.Group, kerr)
		case err == nil && kerr != sarama.ErrNotCoordinatorForConsumer && kerr != sarama.ErrConsumerCoordinatorNotAvailable &&
			kerr != sarama.ErrConcurrentTransactions && kerr != sarama.ErrRequestTimedOut && kerr != sarama.ErrUnknownTopicOrPartition:
			return fmt.Errorf("kafka: commit the consumer offsets of group %s in the transaction: %w", o.Group, kerr)
		}
		if err == nil {
			err = kerr
		}
		_ = p.client.RefreshCoordinator(o.Group)
		if attempt >= txnRetries {
			return fmt.Errorf("kafka: commit the consumer offsets of group %s in the transaction failed after %d attempts: %w", o.Group, attempt+1, err)
		}
		if serr := ctxtime.Sleep(ctx, txnBackoff(attempt, txnRetries)); serr != nil {
			return fmt.Errorf("kafka: commit the consumer offsets of group %s: %w (last error: %w)", o.Group, serr, err)
		}
	}
}
