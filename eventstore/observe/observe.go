package observe

import (
	"context"
	"time"
)

// Append reports one call of a store's Append.
type Append struct {
	// Topic is the events topic of the Kafka store (empty for stores
	// without topics).
	Topic string
	// Stream is the stream appended to.
	Stream string
	// Events is the number of events in the call; Bytes the sum of their
	// data sizes.
	Events, Bytes int
	// Duration is how long the call took, queueing included.
	Duration time.Duration
	// Err is the call's error (nil on success).
	Err error
	// Conflict reports whether Err is an optimistic-concurrency conflict
	// (eventstore.ErrConcurrencyConflict).
	Conflict bool
}

// AppendObserver is told about every Append of a store.
type AppendObserver interface {
	ObserveAppend(ctx context.Context, a Append)
}

// Batch reports one group-commit round of the Kafka store: the appends a
// worker took together and tried to write in one Kafka transaction.
type Batch struct {
	// Topic is the events topic.
	Topic string
	// Appends and Events are the number of appends and of events in the
	// batch.
	Appends, Events int
	// Succeeded counts appends that finished successfully in this round
	// (written, or recognised as idempotent repeats), Failed those that
	// finished with an error (conflicts included), Retried those that go
	// into a later transaction because the round was aborted.
	Succeeded, Failed, Retried int
	// Duration is how long the round took (checks, produce, conflict scan
	// and commit).
	Duration time.Duration
}

// Committed reports whether the round's transaction committed, judged from
// its outcome: some append succeeded and none has to be retried.
func (b Batch) Committed() bool { return b.Succeeded > 0 && b.Retried == 0 }

// BatchObserver is told about every group-commit round of the Kafka store.
type BatchObserver interface {
	ObserveBatch(ctx context.Context, b Batch)
}

// Index reports progress of the Kafka store's stream index over one
// partition: after every fetch of its catch-up, at start and before
// appends.
type Index struct {
	// Topic is the events topic.
	Topic string
	// Partition is the partition indexed.
	Partition int32
	// Offset is the next offset to index; End is the partition's last
	// stable offset when this catch-up started.
	Offset, End int64
	// Records is the number of records this fetch indexed.
	Records int
}

// IndexObserver is told about the Kafka store's index catch-up.
type IndexObserver interface {
	ObserveIndex(ctx context.Context, ix Index)
}

// SnapshotOutcome says how an aggregate load used snapshots.
type SnapshotOutcome uint8

// Snapshot outcomes of a load.
const (
	// SnapshotNone: the repository has no snapshot store.
	SnapshotNone SnapshotOutcome = iota
	// SnapshotHit: the load started from a snapshot.
	SnapshotHit
	// SnapshotMiss: the stream had no snapshot.
	SnapshotMiss
	// SnapshotIgnored: a snapshot was found but could not be used (another
	// snapshot version, undecodable, ahead of the stream, another history);
	// the aggregate was rebuilt from all its events.
	SnapshotIgnored
	// SnapshotError: the snapshot store failed; the aggregate was rebuilt
	// from all its events.
	SnapshotError
)

// String returns "none", "hit", "miss", "ignored" or "error".
func (o SnapshotOutcome) String() string {
	switch o {
	case SnapshotHit:
		return "hit"
	case SnapshotMiss:
		return "miss"
	case SnapshotIgnored:
		return "ignored"
	case SnapshotError:
		return "error"
	default:
		return "none"
	}
}

// Load reports one aggregate load by a repository (Load, and every load of
// Update).
type Load struct {
	// Aggregate is the aggregate's Go type, for example "account.Account".
	Aggregate string
	// Stream is the stream loaded.
	Stream string
	// Events is the number of events read (after the snapshot, when one was
	// used).
	Events int
	// Snapshot says how snapshots were used.
	Snapshot SnapshotOutcome
	// Duration is how long the load took.
	Duration time.Duration
	// Err is the load's error; a stream that does not exist is not an
	// error here (Events is 0).
	Err error
}

// LoadObserver is told about every aggregate load.
type LoadObserver interface {
	ObserveLoad(ctx context.Context, l Load)
}

// Retry reports that a repository's Update met a concurrency conflict and
// starts over.
type Retry struct {
	// Aggregate and Stream are as in [Load].
	Aggregate, Stream string
	// Attempt is the attempt that conflicted (1 for the first).
	Attempt int
	// Backoff is the wait before the next attempt.
	Backoff time.Duration
}

// RetryObserver is told about every retry of an Update.
type RetryObserver interface {
	ObserveRetry(ctx context.Context, r Retry)
}

// SnapshotWrite reports one attempt of a snapshot writer (snapshot.Writer)
// to save a snapshot, or a snapshot it refused.
type SnapshotWrite struct {
	// Stream and Version are the snapshot's stream and the stream version
	// it covers; Bytes the size of its encoded state.
	Stream  string
	Version int64
	Bytes   int
	// Duration is how long the save took (0 for a dropped snapshot).
	Duration time.Duration
	// Err is the save's error, nil on success.
	Err error
	// GaveUp reports that this failed attempt was the last: the snapshot
	// is abandoned (loads replay more events until the next one).
	GaveUp bool
	// Dropped reports that the snapshot was refused because the writer's
	// queue was full (no save was tried).
	Dropped bool
}

// SnapshotObserver is told about every snapshot save attempt and every
// dropped snapshot. A drop is reported while the writer holds its lock:
// the hook must not call the writer.
type SnapshotObserver interface {
	ObserveSnapshotWrite(ctx context.Context, w SnapshotWrite)
}

// SerdeOp is a serde operation.
type SerdeOp string

// Serde operations.
const (
	Encode SerdeOp = "encode"
	Decode SerdeOp = "decode"
)

// Serde reports one encode or decode of a serde.
type Serde struct {
	// Serde names the serde, for example "avro".
	Serde string
	// Op is Encode or Decode.
	Op SerdeOp
	// Type is the event type name.
	Type string
	// Bytes is the size of the encoded data (0 when encoding failed).
	Bytes int
	// Duration is how long it took.
	Duration time.Duration
	// Err is the error, nil on success.
	Err error
}

// SerdeObserver is told about every encode and decode.
type SerdeObserver interface {
	ObserveSerde(ctx context.Context, s Serde)
}

// RegistryCall reports one call to a schema registry.
type RegistryCall struct {
	// Op is what was asked: "register", "schema_by_id", "lookup",
	// "compatibility", ...
	Op string
	// Subject is the subject, when the call has one.
	Subject string
	// Duration is how long the call took.
	Duration time.Duration
	// Err is the call's error, nil on success.
	Err error
	// NotFound reports that Err is the registry's answer "no such subject,
	// version or schema", which callers often expect (a new subject).
	NotFound bool
}

// RegistryObserver is told about every call to the schema registry.
type RegistryObserver interface {
	ObserveRegistry(ctx context.Context, c RegistryCall)
}

// CacheLookup reports a look-up in one of a serde's caches.
type CacheLookup struct {
	// Cache names the cache, for example "schema_by_id" or "writer".
	Cache string
	// Hit reports whether the value was cached.
	Hit bool
}

// CacheObserver is told about serde cache look-ups that may need the
// registry.
type CacheObserver interface {
	ObserveCache(ctx context.Context, c CacheLookup)
}

// Handled reports one run of a projection's handlers for one event.
type Handled struct {
	// Projection is the projection's name.
	Projection string
	// Type is the event type name.
	Type string
	// Stream is the event's stream; Partition and Offset its position.
	Stream    string
	Partition int32
	Offset    int64
	// Duration is how long decoding and the handlers took.
	Duration time.Duration
	// Err is the handlers' error, nil on success (an attempt that failed
	// and will be retried is reported too).
	Err error
}

// ProjectionObserver is told about every handled event of a projection.
type ProjectionObserver interface {
	ObserveHandled(ctx context.Context, h Handled)
}

// Failure reports an event that a projection gave up on.
type Failure struct {
	// Projection is the projection's name.
	Projection string
	// Action is "skip" or "dead_letter".
	Action string
	// Type, Stream, Partition and Offset are the event's.
	Type      string
	Stream    string
	Partition int32
	Offset    int64
	// Err is why.
	Err error
}

// FailureObserver is told about events a projection skipped or
// dead-lettered.
type FailureObserver interface {
	ObserveFailure(ctx context.Context, f Failure)
}

// Lag reports how far a projection is behind the end of one partition.
type Lag struct {
	// Projection is the projection's name.
	Projection string
	// Partition is the partition; Lag the offsets (events) behind.
	Partition int32
	Lag       int64
}

// LagObserver is told the lag of a projection whenever the runner
// computes it (Runner.Lag).
type LagObserver interface {
	ObserveLag(ctx context.Context, l Lag)
}

// Rebuild reports the progress of a projection's catch-up (or rebuild).
type Rebuild struct {
	// Projection is the projection's name.
	Projection string
	// Done and Total are the events processed and to process.
	Done, Total int64
	// Finished is set on the last report.
	Finished bool
}

// RebuildObserver is told the progress of projection catch-ups.
type RebuildObserver interface {
	ObserveRebuild(ctx context.Context, r Rebuild)
}
