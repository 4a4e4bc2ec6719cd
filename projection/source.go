package projection

import (
	"context"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Record is one entry a [Source] delivers: an event, or a record of the log
// that could not be decoded into one.
type Record struct {
	// Event is the event. StreamID and Position are always set, also when
	// DecodeErr is not nil (then StreamID is the record key, if any).
	Event eventstore.RecordedEvent
	// DecodeErr is not nil when the record could not be decoded into an
	// event (a corrupt or foreign record). The runner treats it like a
	// handler failure that retrying cannot fix.
	DecodeErr error
	// Topic is the Kafka topic the record came from, "" for other sources.
	Topic string
	// Raw is the source's original record (*sarama.ConsumerMessage for
	// the Kafka source), for dead-letter sinks that copy it; it may be nil.
	Raw any
}

// Source delivers the records of a log to a runner. Implementations:
// [FromStore] and the Kafka source in package kafkaprojection.
type Source interface {
	// Run reads records and hands them to sink until ctx is done (then it
	// returns ctx.Err()) or sink.Deliver fails (then it returns that
	// error). Before reading a partition it asks sink.Start where to begin.
	Run(ctx context.Context, sink Sink) error
	// End returns the current end of the log: for each partition the
	// offset the next event will get. Lag and catch-up use it.
	End(ctx context.Context) (eventstore.Checkpoint, error)
}

// GapChecker is implemented by sources whose logs have offsets that hold
// no event (Kafka transaction markers and aborted records). [Runner.Lag]
// uses it not to count such offsets as lag.
type GapChecker interface {
	// HasEvents reports whether offsets [from, to) of partition hold any
	// event a reader would see.
	HasEvents(ctx context.Context, partition int32, from, to int64) (bool, error)
}

// CommittedReader is implemented by sources that keep a position shared by
// all instances of a projection (the Kafka consumer group's committed
// offsets). [Runner.WaitFor] polls it, so that it also returns for events
// of partitions another instance processes.
type CommittedReader interface {
	// Committed returns the committed position: for each partition the
	// offset of the next event to process.
	Committed(ctx context.Context) (eventstore.Checkpoint, error)
}

// Sink is the runner's side of a [Source]: where to start, and where to
// send records. [Runner.Run] and [Runner.CatchUp] hand the runner's sink to
// [Source.Run]; the Runner itself does not have these methods (only a
// source drives them). A runner's sink is safe for concurrent use by one
// goroutine per partition.
type Sink interface {
	// Start returns the stored checkpoint to resume the given partitions
	// from (nil partitions: all), and ok=false when the runner keeps no
	// checkpoint of its own, so the source uses its own (consumer-group
	// offsets) or the beginning of the log.
	Start(ctx context.Context, partitions []int32) (cp eventstore.Checkpoint, ok bool, err error)
	// Deliver processes records of one partition, in log order. It returns
	// how many of them (a prefix) are done, so the source may commit their
	// offsets, and an error when the projection must stop (or ctx ended).
	Deliver(ctx context.Context, recs []Record) (int, error)
	// Reached tells the runner that the source has read its partition up
	// to next (exclusive) although no record was delivered for the last
	// offsets (they were transaction markers or aborted records). Catch-up
	// uses it to know that it reached the end.
	Reached(partition int32, next int64)
}

// CheckpointStore keeps a projection's position in the same database as
// its read model, so that both change in one transaction.
type CheckpointStore interface {
	// Load returns the stored checkpoint of the named projection (nil if it
	// has none).
	Load(ctx context.Context, projection string) (eventstore.Checkpoint, error)
	// Begin starts a transaction for a batch of events of one partition of
	// the named projection. The handlers of the batch run with the
	// returned context, through which they reach the transaction (for SQL:
	// sqlcheckpoint.Tx(ctx)).
	Begin(ctx context.Context, projection string, partition int32) (context.Context, Txn, error)
}

// Txn is a transaction of a [CheckpointStore].
type Txn interface {
	// Commit stores next as the next offset of partition and commits, if
	// the stored next offset is still from (0 when there was none).
	// Otherwise it rolls back and returns an error matching
	// [ErrCheckpointMoved]: another instance processed the partition.
	Commit(ctx context.Context, partition int32, from, next int64) error
	// Rollback abandons the transaction. Calling it after Commit is a no-op.
	Rollback() error
}

// Filterer is implemented by sinks that need only some of the log's
// records. A runner's sink implements it: when every handler of the runner
// is an [On] handler for a type whose stored names its serde can tell
// ([serde.TypeNamer]), its ReadOptions name those types (with their older
// names, see TypeNamer, and the lifecycle marker types), and a source that
// can filter (the Kafka Source and Reader) reads only those records. A
// runner with an [OnAny] or [OnRecorded] handler, a dead-letter sink
// ([WithDeadLetter]: a parked stream's later events must all reach it),
// [WithStrictTypes] or a serde that cannot tell asks for every record.
type Filterer interface {
	// ReadOptions returns the filter the sink's records may be narrowed
	// to; a zero ReadOptions (not Filtered) means every record.
	ReadOptions() eventstore.ReadOptions
}

// SinkReadOptions returns the filter a source applies when it runs for
// sink, given the filter own the source was created with: for the type
// filter, own's types if it names any, else the sink's ([Filterer], none
// when sink does not implement it); for the stream prefixes, own's if it
// names any, else the sink's. So a filter the user gave the source wins
// field by field, and a sink's filter only narrows what the user left
// open.
func SinkReadOptions(sink Sink, own eventstore.ReadOptions) eventstore.ReadOptions {
	f, ok := sink.(Filterer)
	if !ok {
		return own
	}
	want := f.ReadOptions()
	out := own
	if len(out.Types) == 0 {
		out.Types = want.Types
	}
	if len(out.StreamPrefixes) == 0 {
		out.StreamPrefixes = want.StreamPrefixes
	}
	return out
}
