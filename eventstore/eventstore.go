package eventstore

import (
	"context"
	"iter"
	"strconv"
	"time"
)

// Store is an append-only log of events grouped into streams.
//
// Implementations are safe for concurrent use by many goroutines, and the
// concurrency guarantees hold across processes that share the same
// underlying log: an append whose expected version no longer holds fails
// with a [*ConflictError] and leaves nothing behind.
type Store interface {
	// Append atomically appends events to the end of the stream if the
	// stream matches expected. Events with an empty ID get a random UUID.
	// It returns the stream's new version and the positions of the events.
	//
	// Errors: [ErrInvalidArgument] for bad input (empty stream ID, no
	// events, an event without a type or with a reserved type, an invalid
	// expected version), a [*StreamDeletedError] for a deleted stream
	// (see [Lifecycle]; recreate it with StreamAppend.Recreate),
	// [ErrConcurrencyConflict] when expected does not hold,
	// [ErrDuplicateEventID] when some event IDs were already appended at a
	// different place, [ErrCorruptLog] when the stream's log holds a record
	// that is not a valid event at its place (its version is unknown;
	// nothing is written, so the bad record is not buried under more
	// events), the context's error when it is cancelled.
	Append(ctx context.Context, streamID string, expected ExpectedVersion, events ...Event) (AppendResult, error)

	// ReadStream yields the events of one stream in version order, starting
	// at version from (1 for the whole stream; values below 1 mean 1).
	// Reading a stream that does not exist yields a single
	// [ErrStreamNotFound] error. The sequence stops at the first error.
	// For a store that implements [Lifecycle]: reading a deleted stream
	// yields a single [*StreamDeletedError], reading a truncated stream
	// from before its truncation point a single [*StreamTruncatedError];
	// a recreated stream is read from after its delete marker; truncate
	// markers are yielded at their versions.
	ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[RecordedEvent, error]

	// ReadAll yields every committed event of the store after the positions
	// in from (nil means from the beginning), then stops when it has
	// reached the end of the log as it was when the call started
	// (catch-up). Events of one stream come in version order; events of
	// different partitions may interleave in any order.
	//
	// A record that is not a valid event at its place (a foreign record,
	// an event whose version does not follow its stream's: a gap or a
	// duplicate written around the store) is yielded with an error
	// matching [ErrCorruptLog], together with a RecordedEvent whose
	// Position is the record's (and, when they could be read, its
	// StreamID and the rest); the sequence goes on if the caller keeps
	// iterating, so a reader can step past it.
	//
	// A store that cannot reach that end (for Kafka: a partition held
	// back for long by a transaction that stays open, as a writer that
	// died with it open does until the broker aborts it) yields what it
	// could read and then an error matching [ErrUnavailable], never a
	// quietly short read: retry from the positions read so far.
	//
	// Options narrow what is yielded ([WithTypes], [WithStreamPrefix]). A
	// record that is not a valid event is still yielded with its error
	// when its stream (the record's key) passes the prefix filter and
	// its type, if it has one, passes the type filter.
	ReadAll(ctx context.Context, from Checkpoint, opts ...ReadOption) iter.Seq2[RecordedEvent, error]

	// Subscribe is ReadAll that does not stop at the end of the log: after
	// catching up it waits for new events and yields them as they are
	// committed, until ctx is done (then it yields ctx.Err() and stops) or
	// the caller breaks out of the loop.
	Subscribe(ctx context.Context, from Checkpoint, opts ...ReadOption) iter.Seq2[RecordedEvent, error]

	// Close releases the store's resources. Appends and reads after Close
	// fail with [ErrClosed].
	Close() error
}

// Event is an event to append: a stable type name, serialized data and
// metadata. Data is opaque to the store; see package serde for turning Go
// values into bytes.
type Event struct {
	// ID identifies the event for idempotency and tracing, normally a UUID.
	// Append fills in a random UUID when it is empty.
	ID string
	// Type is the event's stable type name, for example "bank.AccountOpened".
	// It must not be empty.
	Type string
	// Data is the serialized event.
	Data []byte
	// Metadata travels with the event: correlation, causation and user keys.
	Metadata Metadata
}

// Metadata is information about an event that is not part of the event:
// which request caused it, which trace it belongs to, who issued it.
type Metadata struct {
	// CorrelationID ties together every event caused by one request.
	CorrelationID string
	// CausationID is the ID of the command or event that caused this one.
	CausationID string
	// Values holds user keys (for example "user" or "traceparent"). Keys
	// must be non-empty; stores may restrict them further (the Kafka store
	// writes them as headers named "meta.<key>", except "traceparent" and
	// "tracestate", which keep their W3C names; see docs/wire-format.md).
	Values map[string]string
}

// RecordedEvent is an event as stored: the event plus where and when it was
// recorded.
type RecordedEvent struct {
	Event
	// StreamID is the stream the event belongs to.
	StreamID string
	// Version is the event's version in its stream; the first event is 1.
	Version int64
	// Position is where the event is in the store's global log.
	Position Position
	// RecordedAt is when the store recorded the event (UTC).
	RecordedAt time.Time
}

// Position locates an event in a store's global log. A log is split into
// partitions (Kafka partitions; stores with a single log use partition 0),
// and Offset orders events within a partition.
type Position struct {
	Partition int32
	Offset    int64
}

// String formats the position as "partition/offset".
func (p Position) String() string {
	return strconv.FormatInt(int64(p.Partition), 10) + "/" + strconv.FormatInt(p.Offset, 10)
}

// Checkpoint records how far a reader has got in each partition: for every
// partition, the offset of the next event to read. A missing partition
// means "from the beginning". The zero value (nil) is the beginning of the
// whole log.
type Checkpoint map[int32]int64

// Advance records that the event at p has been processed, so that reading
// from the checkpoint resumes after it. Advance never moves a partition
// backwards. It allocates the map when c is nil, so use it as
// c = c.Advance(p) or on a non-nil checkpoint.
func (c Checkpoint) Advance(p Position) Checkpoint {
	if c == nil {
		c = Checkpoint{}
	}
	if next := p.Offset + 1; next > c[p.Partition] {
		c[p.Partition] = next
	}
	return c
}

// Clone returns a copy of the checkpoint.
func (c Checkpoint) Clone() Checkpoint {
	out := make(Checkpoint, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// Includes reports whether the event at p is before the checkpoint, that is,
// whether a reader at c has already processed it.
func (c Checkpoint) Includes(p Position) bool {
	return p.Offset < c[p.Partition]
}

// AppendResult is what a successful append reports.
type AppendResult struct {
	// Version is the stream's version after the append: the version of
	// the last appended event.
	Version int64
	// Positions are the positions of the appended events, in order.
	Positions []Position
}
