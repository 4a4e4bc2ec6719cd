package kafkaprojection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/ctxtime"
	"github.com/kafkaes/kafkaes/internal/kafkaauth"
	"github.com/kafkaes/kafkaes/internal/rawfetch"
	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
)

// ErrNotAuthorized is matched (errors.Is) by every [*AuthorizationError]
// the source and the dead-letter sink return; it is the same error as the
// Kafka event store's kafka.ErrNotAuthorized.
var ErrNotAuthorized = kafkaauth.ErrNotAuthorized

// AuthorizationError is a request the cluster's ACLs denied: it names the
// ACL operation and the resource (the events topic or the consumer group
// for [Source], the dead-letter topic for [DLQ]), and its message holds the
// kafka-acls.sh command that allows it. [Source.Run] returns it at once
// instead of rejoining the group; it matches [ErrNotAuthorized] and the
// broker's error code. It is the same type as kafka.AuthorizationError.
type AuthorizationError = kafkaauth.Error

// Source is a [projection.Source] that reads a Kafka events topic through a
// sarama consumer group. Create it with [NewSource]; Close it when done.
type Source struct {
	topic, group string
	client       sarama.Client
	maxBatch     int
	idle         time.Duration
	logger       *slog.Logger
	txnPrefix    string // a Transformer's; see WithTransactionalIDPrefix
	sinkCommits  bool   // NewProcessSource: the sink commits every offset
	filter       eventstore.ReadOptions
}

// Option configures a [Source].
type Option func(*options)

type options struct {
	initial   int64
	maxBatch  int
	idle      time.Duration
	logger    *slog.Logger
	txnPrefix string
	// sinkCommits: the sink commits the group's offsets itself, in its
	// own transactions (NewProcessSource, the transformer); the source
	// must never commit any, see NewProcessSource.
	sinkCommits bool
	filter      eventstore.ReadOptions
}

// WithInitialOffset sets where a consumer group without committed offsets
// starts: sarama.OffsetOldest (the default, so a new projection sees the
// whole history) or sarama.OffsetNewest.
func WithInitialOffset(o int64) Option { return func(c *options) { c.initial = o } }

// WithMaxBatch sets the most records handed to the runner at once (one
// transaction with a checkpoint store). The default is 500.
func WithMaxBatch(n int) Option { return func(c *options) { c.maxBatch = max(n, 1) } }

// WithIdleCheck sets how long a partition must be quiet before the source
// checks whether it reached the end of the log (the offsets after the
// last event may be transaction markers, which a consumer never sees;
// catch-up needs to know). The default is 100ms.
func WithIdleCheck(d time.Duration) Option { return func(c *options) { c.idle = d } }

// WithReadOptions makes the source deliver only the events that pass the
// read options ([eventstore.WithTypes], [eventstore.WithStreamPrefix]),
// as the event store's ReadAll and Subscribe do. Each record is tested on
// its key (the stream ID) and its es.type header before anything else of
// it is decoded; a record that fails is not delivered, but counts as read:
// the source moves the group offsets (or tells the runner, which moves its
// checkpoint with the next delivered event) past it, and catch-up ends at
// the end of the log as without a filter. A record without an es.type
// header is not a valid event and is delivered (with its decoding error)
// whatever the filter says, so the failure policy sees it. The version
// check of the source (see the package doc) still follows every stream
// through the filtered records, from their es.version headers.
func WithReadOptions(opts ...eventstore.ReadOption) Option {
	return func(c *options) {
		f := eventstore.ReadOptionsOf(opts)
		c.filter.Types = append(c.filter.Types, f.Types...)
		c.filter.StreamPrefixes = append(c.filter.StreamPrefixes, f.StreamPrefixes...)
	}
}

// WithLogger sets the logger for rebalances and consumer errors. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *options) { c.logger = l } }

func collect(opts []Option) options {
	o := options{initial: sarama.OffsetOldest, maxBatch: 500, idle: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// NewSource returns a source for the events topic, read by the consumer
// group group, on the cluster that client is connected to. The client
// stays the caller's: the source opens its own connections from a copy of
// the client's configuration (TLS, SASL, client ID and version stay
// yours) and broker addresses, and never closes client. The copy is
// adjusted: Consumer.IsolationLevel = ReadCommitted,
// Consumer.Offsets.Initial = the initial offset (oldest),
// Consumer.Return.Errors = true (errors are logged), ChannelBufferSize at
// least 4 times the batch size and Consumer.MaxProcessingTime at least 1s
// (so that sarama keeps fetching while a batch is handled), and
// Consumer.MaxWaitTime at most 100ms (stopping a consumer waits for the
// fetch in flight, so this bounds how long shutdowns, rebalances and the
// end of a catch-up take; idle partitions cost up to 10 fetches a second).
// The consumer-group settings (heartbeat, session and rebalance timeouts,
// the assignor) are read from the client's configuration. The version must
// be at least 0.11 (record headers). ctx bounds the connecting.
func NewSource(ctx context.Context, client sarama.Client, topic, group string, opts ...Option) (*Source, error) {
	o := collect(opts)
	if topic == "" || group == "" {
		return nil, fmt.Errorf("kafkaprojection: topic %q and group %q must not be empty", topic, group)
	}
	return newSource(ctx, client, topic, group, o)
}

func newSource(ctx context.Context, client sarama.Client, topic, group string, o options) (*Source, error) {
	addrs, c, err := fromClient(client, "source of "+topic)
	if err != nil {
		return nil, err
	}
	if !c.Version.IsAtLeast(sarama.V0_11_0_0) {
		return nil, fmt.Errorf("kafkaprojection: sarama config Version %s is too old; events carry headers, set Version to at least sarama.V0_11_0_0 (better the brokers' version)", c.Version)
	}
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	c.Consumer.Offsets.Initial = o.initial
	c.Consumer.Return.Errors = true
	// Keep sarama fetching while the runner works through a batch: its
	// fetcher stalls when a partition's channel is full.
	c.ChannelBufferSize = max(c.ChannelBufferSize, 4*o.maxBatch)
	// sarama drops a partition from its fetches, and re-adds it later,
	// when its channel stays full for MaxProcessingTime (100ms by
	// default); a runner working through a batch of slow handlers (a
	// database transaction) must not cause that.
	c.Consumer.MaxProcessingTime = max(c.Consumer.MaxProcessingTime, time.Second)
	// Stopping a partition consumer (shutdown, revocation, the end of a
	// catch-up) waits for the fetch in flight, which an idle broker holds
	// for MaxWaitTime (500ms by default): keep stops quick.
	c.Consumer.MaxWaitTime = min(c.Consumer.MaxWaitTime, 100*time.Millisecond)
	if o.sinkCommits {
		c.Consumer.Offsets.AutoCommit.Enable = false
	}
	own, err := connect(ctx, addrs, &c, "source of "+topic)
	if err != nil {
		return nil, err
	}
	return &Source{topic: topic, group: group, client: own, maxBatch: o.maxBatch, idle: o.idle, logger: o.logger,
		txnPrefix: o.txnPrefix, sinkCommits: o.sinkCommits, filter: o.filter}, nil
}

// NewProcessSource is [NewSource] for a sink that commits the group's
// offsets itself, in transactions with its output: a process manager with
// a [ProcessCommitter]. The source then never commits offsets (sarama's
// automatic commits are off), because a plain commit of an older offset
// that reaches the group coordinator after a transaction committed a newer
// one would move the group back, and the batches in between would be
// processed, and their effects committed, a second time after a restart.
func NewProcessSource(ctx context.Context, client sarama.Client, topic, group string, opts ...Option) (*Source, error) {
	return NewSource(ctx, client, topic, group, append(opts[:len(opts):len(opts)], func(o *options) { o.sinkCommits = true })...)
}

// Close closes the source's own connections (not the client it was
// created from). Stop Run first.
func (s *Source) Close() error { return s.client.Close() }

// End returns the last stable offset of every partition of the topic:
// the offset after the last committed record.
func (s *Source) End(ctx context.Context) (eventstore.Checkpoint, error) {
	parts, err := s.partitions()
	if err != nil {
		return nil, err
	}
	cp, err := listOffsets(ctx, s.client, s.topic, parts, sarama.OffsetNewest)
	if kafkaauth.Fatal(err) {
		return nil, s.denied("end offsets of "+s.topic, err)
	}
	return cp, err
}

// partitions returns the partitions of the source's topic, or an error
// that says the topic does not exist (the client never auto-creates it).
func (s *Source) partitions() ([]int32, error) {
	parts, err := s.client.Partitions(s.topic)
	switch {
	case err == nil:
		return parts, nil
	case kafkaauth.Fatal(err):
		return nil, s.denied("partitions of "+s.topic, err)
	case errors.Is(err, sarama.ErrUnknownTopicOrPartition):
		return nil, missingTopic("events", s.topic, howEvents)
	}
	return nil, fmt.Errorf("kafkaprojection: partitions of %s: %w", s.topic, err)
}

// HasEvents reports whether offsets [from, to) of the partition hold a
// record a read_committed consumer sees (not only transaction markers or
// aborted records).
func (s *Source) HasEvents(ctx context.Context, partition int32, from, to int64) (bool, error) {
	return committedDataBetween(ctx, s.client, s.topic, partition, from, to)
}

// Committed returns the consumer group's committed offsets (see
// [projection.CommittedReader]).
func (s *Source) Committed(ctx context.Context) (eventstore.Checkpoint, error) {
	cp, err := committedOffsets(ctx, s.client, s.group, s.topic)
	if kafkaauth.Fatal(err) {
		return nil, s.denied("committed offsets of group "+s.group, err)
	}
	return cp, err
}

// Run joins the consumer group and delivers the records of the partitions
// assigned to it to sink until ctx ends or the sink fails.
//
// The records are filtered by [projection.SinkReadOptions] of sink and the
// source's [WithReadOptions]: a runner whose handlers are all [projection.On]
// handlers reads only their types (see [projection.Filterer]).
func (s *Source) Run(ctx context.Context, sink projection.Sink) error {
	s = s.forSink(sink)
	// A group the principal may not Read fails the coordinator lookup;
	// sarama's consumer group would retry that for about 10s (rebalance
	// retries) before Consume returns it. Ask once first.
	if _, err := s.client.Coordinator(s.group); kafkaauth.Fatal(err) {
		return s.denied("find the coordinator of consumer group "+s.group, err)
	}
	// The consumer group would rejoin forever on a missing topic: say so
	// at once instead.
	if _, err := s.partitions(); err != nil {
		return err
	}
	group, err := sarama.NewConsumerGroupFromClient(s.group, s.client)
	if err != nil {
		return fmt.Errorf("kafkaprojection: join consumer group %s: %w", s.group, err)
	}
	defer group.Close()
	// Authorization and authentication errors end Run: a missing ACL or
	// a wrong password does not heal by rejoining. They come from Consume
	// (joining the group) or, for the partitions' fetches, on the errors
	// channel, which cancels every session through runCtx.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	go func() {
		for err := range group.Errors() {
			if kafkaauth.Fatal(err) {
				stopRun(s.denied("consume", err))
				continue
			}
			s.logger.Warn("kafkaprojection: consumer group error", slog.String("group", s.group), slog.Any("error", err))
		}
	}()
	// A filtered source (not a process source, whose sink commits the
	// offsets itself) reads its claimed partitions with raw fetches, as a
	// filtered Reader does; sarama's consumer group still does membership,
	// assignment, rebalances and offset commits, and its partition
	// consumers are paused.
	var lead *rawfetch.Leaders
	if s.filter.Filtered() && !s.sinkCommits {
		kc, ok, err := rawClient(s.client, s.topic)
		if err != nil {
			return err
		}
		if ok {
			defer kc.Close()
			lead = rawfetch.NewLeaders(kc, s.topic)
		}
	}
	for {
		cctx, cancel := context.WithCancelCause(runCtx)
		h := &groupHandler{s: s, sink: sink, ctx: cctx, cancel: cancel, group: group, lead: lead}
		err := group.Consume(cctx, []string{s.topic}, h)
		fatal := context.Cause(cctx)
		cancel(nil)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case fatal != nil && !errors.Is(fatal, errRestart) && !errors.Is(fatal, context.Canceled):
			return fatal
		case errors.Is(err, sarama.ErrClosedConsumerGroup):
			return err
		case kafkaauth.Fatal(err):
			return s.denied("join consumer group "+s.group, err)
		case err != nil:
			s.logger.Warn("kafkaprojection: consume failed, rejoining", slog.String("group", s.group), slog.Any("error", err))
			if err := ctxtime.Sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
}

// forSink returns a copy of s that filters with the source's read options
// merged with sink's ([projection.SinkReadOptions]).
func (s *Source) forSink(sink projection.Sink) *Source {
	c := *s
	c.filter = projection.SinkReadOptions(sink, s.filter)
	return &c
}

// denied describes an authorization error of the source: Read on the
// consumer group for a group code, else Read on the events topic.
func (s *Source) denied(what string, err error) error {
	cfg := s.client.Config()
	if errors.Is(err, sarama.ErrGroupAuthorizationFailed) {
		return kafkaauth.Wrap(err, cfg, "kafkaprojection: "+what, "Read", kafkaauth.Group, s.group, false)
	}
	return kafkaauth.Wrap(err, cfg, "kafkaprojection: "+what, "Read", kafkaauth.Topic, s.topic, false)
}

// Session identifies the consumer-group member that a [Source] delivers a
// batch for: sinks that commit the group's offsets themselves, in a
// transaction with their output (process managers, see
// [ProcessCommitter]), commit them as this member, so that the group
// refuses them once a rebalance gave the partition to another member.
type Session struct {
	Group, Topic string
	GenerationID int32
	MemberID     string
	// SinkCommits is set when the source leaves every offset commit to the
	// sink ([NewProcessSource]).
	SinkCommits bool
}

type sessionKey struct{}

// SessionFrom returns the consumer-group session of the batch that ctx
// was handed to a sink with, by a [Source]; ok is false for other
// contexts.
func SessionFrom(ctx context.Context) (s Session, ok bool) {
	s, ok = ctx.Value(sessionKey{}).(Session)
	return s, ok
}

// errRestart ends a session so that the next one reloads checkpoints.
var errRestart = errors.New("kafkaprojection: checkpoint moved, restarting the session")

type groupHandler struct {
	s      *Source
	sink   projection.Sink
	ctx    context.Context
	cancel context.CancelCauseFunc
	group  sarama.ConsumerGroup
	lead   *rawfetch.Leaders // raw fetches for the claims (filtered), or nil

	mu    sync.Mutex
	start map[int32]int64 // checkpoint-store start offsets, if the runner has a store
}

// restartIf returns the cause to end the session with after a failed
// setup: err itself, which ends Run, unless transient is set (a broker or
// the group's coordinator is away), when the session ends to be joined
// again, as after a failed Consume.
func (h *groupHandler) restartIf(transient bool, err error) error {
	if !transient {
		return err
	}
	return fmt.Errorf("%w: %w", errRestart, err)
}

// Setup moves the group offsets of the assigned partitions to the runner's
// stored checkpoint, when it has one.
func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	parts := sess.Claims()[h.s.topic]
	h.s.logger.Debug("kafkaprojection: partitions assigned", slog.String("group", h.s.group), slog.Any("partitions", parts))
	cp, ok, err := h.sink.Start(h.ctx, parts)
	if err != nil {
		h.cancel(h.restartIf(errors.Is(err, eventstore.ErrUnavailable), err))
		return err
	}
	if !ok {
		return nil
	}
	var missing []int32
	for _, p := range parts {
		if _, ok := cp[p]; !ok {
			missing = append(missing, p)
		}
	}
	oldest := map[int32]int64{}
	if len(missing) > 0 {
		if oldest, err = listOffsets(h.ctx, h.s.client, h.s.topic, missing, sarama.OffsetOldest); err != nil {
			h.cancel(h.restartIf(transientKafka(err), err))
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.start = map[int32]int64{}
	for _, p := range parts {
		off, ok := cp[p]
		if !ok {
			off = oldest[p]
		}
		h.start[p] = off
		sess.MarkOffset(h.s.topic, p, off, "")  // moves forward only
		sess.ResetOffset(h.s.topic, p, off, "") // moves back only
	}
	return nil
}

// Cleanup runs after all claims returned; sarama then commits the marks.
func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim delivers the records of one partition in batches.
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	p := claim.Partition()
	h.mu.Lock()
	want, stored := h.start[p]
	h.mu.Unlock()
	if stored && claim.InitialOffset() > want {
		// The claim did not start where the checkpoint store says (the
		// group offset could not be moved back): restart the session.
		h.cancel(errRestart)
		return nil
	}
	if off := claim.InitialOffset(); off > 0 {
		// Everything before the group's committed offset was processed
		// (by this instance or another one).
		h.sink.Reached(p, off)
	}
	ctx := context.WithValue(h.ctx, sessionKey{}, Session{Group: h.s.group, Topic: h.s.topic, GenerationID: sess.GenerationID(), MemberID: sess.MemberID(),
		SinkCommits: h.s.sinkCommits})
	mark := func(next int64) { sess.MarkOffset(h.s.topic, p, next, "") }
	var err error
	if h.lead != nil {
		err = h.consumeRaw(ctx, sess, claim, want, stored, mark)
	} else {
		err = h.s.consume(ctx, sess.Context().Done(), h.sink, p, claim.Messages(), claim.InitialOffset(), want, stored, mark)
	}
	if err != nil {
		if errors.Is(err, projection.ErrCheckpointMoved) {
			h.cancel(errRestart)
		} else {
			h.cancel(err)
		}
	}
	return nil
}

// consumeRaw is ConsumeClaim for a source with raw fetches: it pauses the
// claim's sarama partition consumer (what it fetched before the pause is
// drained and dropped) and reads the partition with raw fetches from the
// claim's initial offset (or the checkpoint store's, when later) until the
// session ends.
func (h *groupHandler) consumeRaw(ctx context.Context, sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim, want int64, stored bool,
	mark func(int64)) error {
	p := claim.Partition()
	h.group.Pause(map[string][]int32{h.s.topic: {p}})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case _, ok := <-claim.Messages():
				if !ok {
					return
				}
			case <-stop:
				return
			}
		}
	}()
	start := claim.InitialOffset()
	if start < 0 {
		// No committed offset: Consumer.Offsets.Initial (oldest or newest).
		offs, err := listOffsets(ctx, h.s.client, h.s.topic, []int32{p}, start)
		if err != nil {
			if transientKafka(err) {
				return fmt.Errorf("%w: %w", errRestart, err)
			}
			return err
		}
		start = offs[p]
		if start > 0 {
			h.sink.Reached(p, start)
		}
	}
	if stored && want > start {
		start = want
	}
	return h.s.readRawUntil(ctx, sess.Context().Done(), h.sink, h.lead, p, start, mark)
}

// consume delivers the messages of one partition to sink in batches until
// done is closed, msgs closes or the sink fails (its error is returned).
// Records before skipBefore are dropped when skip is set; mark, if not
// nil, is called with the offset after the last record done after every
// batch. A feeder goroutine drains sarama's channel and decodes the wire
// format into batches while the runner works on the previous batch, so
// sarama's fetcher never stalls on a full channel. When the partition is
// quiet, the end check tells the sink whether only transaction markers are
// left.
func (s *Source) consume(ctx context.Context, done <-chan struct{}, sink projection.Sink, p int32, msgs <-chan *sarama.ConsumerMessage,
	initial, skipBefore int64, skip bool, mark func(next int64)) error {
	stop := make(chan struct{})
	defer close(stop)
	batches := make(chan batch, 2)
	go s.feed(msgs, batches, stop)
	idle := time.NewTimer(s.idle)
	defer idle.Stop()
	next := initial
	checked := int64(-1)
	for {
		var b batch
		select {
		case <-done:
			return nil
		case <-idle.C:
			if next != checked && s.checkEnd(ctx, sink, p, next) {
				checked = next
			}
			idle.Reset(s.idle)
			continue
		case bb, ok := <-batches:
			if !ok {
				return nil
			}
			b = bb
		}
		select {
		case <-done:
			return nil // revoked: leave the batch to the next owner
		default:
		}
		if skip {
			b.recs = dropBefore(b.recs, skipBefore)
			if len(b.recs) == 0 && b.next <= skipBefore {
				continue
			}
		}
		if len(b.recs) > 0 {
			n, err := sink.Deliver(ctx, b.recs)
			if n > 0 {
				next = b.recs[n-1].Event.Position.Offset + 1
				if mark != nil {
					mark(next)
				}
			}
			if err != nil {
				return err
			}
			if n < len(b.recs) {
				idle.Reset(s.idle)
				continue
			}
		}
		if b.next > next {
			// Records after the last delivered one were filtered out
			// (WithReadOptions): they are read too.
			next = b.next
			sink.Reached(p, next)
			if mark != nil {
				mark(next)
			}
		}
		idle.Reset(s.idle)
	}
}

// batch is what the feeder hands to consume: records to deliver, and the
// offset after the last message it took for them, delivered or filtered
// out (0 when nothing was filtered).
type batch struct {
	recs []projection.Record
	next int64
}

// feedLimit bounds the messages (delivered or filtered out) the feeder
// takes for one batch, in units of maxBatch, so that a filter that drops
// nearly everything still reports progress while messages keep coming.
const feedLimit = 16

// feed turns the messages of a claim into batches of records of at most
// maxBatch, taking what is available without waiting, until msgs closes or
// stop is closed. Messages the source's filter drops are not decoded.
func (s *Source) feed(msgs <-chan *sarama.ConsumerMessage, out chan<- batch, stop <-chan struct{}) {
	defer close(out)
	versions := newVersionCheck()
	filtered := s.filter.Filtered()
	for {
		var b batch
		taken := 0
		// take adds msg to the batch unless the filter drops it.
		take := func(msg *sarama.ConsumerMessage) {
			taken++
			if filtered && !s.pass(msg, versions) {
				b.next = msg.Offset + 1
				return
			}
			if b.recs == nil {
				b.recs = make([]projection.Record, 0, min(len(msgs)+1, s.maxBatch)) // what is there now
			}
			r := record(msg)
			versions.check(&r)
			b.recs = append(b.recs, r)
		}
		select {
		case <-stop:
			return
		case msg, ok := <-msgs:
			if !ok {
				return
			}
			take(msg)
		}
		closed := false
	fill:
		for len(b.recs) < s.maxBatch && taken < feedLimit*s.maxBatch {
			select {
			case msg, ok := <-msgs:
				if !ok {
					closed = true
					break fill
				}
				take(msg)
			default:
				break fill
			}
		}
		if len(b.recs) > 0 && b.next <= b.recs[len(b.recs)-1].Event.Position.Offset {
			b.next = 0 // nothing filtered after the last record
		}
		select {
		case out <- b:
		case <-stop:
			return
		}
		if closed {
			return
		}
	}
}

// pass reports whether msg passes the source's filter, testing its key
// and es.type header only. A message without a type is not a valid event
// and passes, so that the runner reports it. A dropped message's version
// goes to the version check.
func (s *Source) pass(msg *sarama.ConsumerMessage, versions *versionCheck) bool {
	var typ, ver []byte
	for _, h := range msg.Headers {
		if h == nil {
			continue
		}
		switch string(h.Key) {
		case wire.HeaderType:
			typ = h.Value
		case wire.HeaderVersion:
			ver = h.Value
		}
	}
	if len(typ) == 0 || matchBytes(&s.filter, msg.Key, typ) {
		return true
	}
	if v, ok := wire.ParseVersion(ver); ok {
		versions.skip(msg.Key, v)
	}
	return false
}

// matchBytes is [eventstore.ReadOptions.Match] on the bytes of a record's
// key and type, without converting them.
func matchBytes(f *eventstore.ReadOptions, key, typ []byte) bool {
	if len(f.StreamPrefixes) > 0 {
		ok := false
		for _, p := range f.StreamPrefixes {
			if len(key) >= len(p) && string(key[:len(p)]) == p {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if string(typ) == t {
			return true
		}
	}
	return false
}

func dropBefore(batch []projection.Record, off int64) []projection.Record {
	i := 0
	for i < len(batch) && batch[i].Event.Position.Offset < off {
		i++
	}
	return batch[i:]
}

// checkEnd tells the sink that the partition is read to its end when the
// only offsets left before the last stable offset hold no committed data.
// It reports whether it could find out.
func (s *Source) checkEnd(ctx context.Context, sink projection.Sink, p int32, next int64) bool {
	end, err := listOffsets(ctx, s.client, s.topic, []int32{p}, sarama.OffsetNewest)
	if err != nil {
		return false
	}
	if end[p] <= next {
		return true
	}
	data, err := committedDataBetween(ctx, s.client, s.topic, p, next, end[p])
	if err != nil {
		return false
	}
	if !data {
		sink.Reached(p, end[p])
	}
	return true
}

// record turns a consumed message into a projection record. A message that
// is not a valid event record keeps its key as stream ID and carries the
// decoding error.
func record(msg *sarama.ConsumerMessage) projection.Record {
	ev, err := wire.DecodeMessage(msg)
	if err != nil {
		ev = eventstore.RecordedEvent{StreamID: string(msg.Key), RecordedAt: msg.Timestamp.UTC()}
		if v, ok := wire.Header(msg.Headers, wire.HeaderVersion); ok {
			ev.Version, _ = wire.ParseVersion(v)
		}
		if t, ok := wire.Header(msg.Headers, wire.HeaderType); ok {
			ev.Type = string(t)
		}
	}
	ev.Position = eventstore.Position{Partition: msg.Partition, Offset: msg.Offset}
	return projection.Record{Event: ev, DecodeErr: err, Topic: msg.Topic, Raw: msg}
}
