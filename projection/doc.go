// Package projection builds read models (query-side views such as balances,
// order lists or search indexes) from the events in an event log.
//
// A [Runner] feeds the events of a [Source] to typed handlers, one per Go
// event type:
//
//	r, err := projection.New("order-summary", sd, []projection.Handler{
//		projection.On(func(ctx context.Context, ev OrderPlaced, m projection.Meta) error { ... }),
//		projection.On(func(ctx context.Context, ev OrderPaid, m projection.Meta) error { ... }),
//	})
//	err = r.Run(ctx, projection.FromStore(store))
//
// Events are decoded with a [serde.Serde]; an event whose type has no
// handler is not decoded at all (after the first one of its type), and an
// event whose type name the serde does not know is skipped (see
// [WithStrictTypes]).
//
// # Sources
//
// [FromStore] reads any [eventstore.Store] through Subscribe (the memory
// store in tests). Package
// [github.com/kafkaes/kafkaes/projection/kafkaprojection] reads the Kafka
// events topic through a sarama consumer group (Source), so a projection
// scales out over several instances, or with plain partition consumers
// (Reader) for rebuilds and single-instance projections, and also runs
// Kafka-to-Kafka transformations in Kafka transactions (Transformer).
//
// # Deleted and truncated streams
//
// Where the log holds a stream's lifecycle marker
// ([eventstore.Lifecycle]: a deletion or a truncation), the runner hands
// an On[[StreamDeleted]] or On[[StreamTruncated]] handler a notice (a
// projection that keeps a row per stream deletes it on StreamDeleted).
// Markers are never decoded with the serde and never reach OnAny
// handlers, so a projection without such handlers does not see them, also
// with [WithStrictTypes]; OnRecorded handlers get them as every record
// (their Type has the prefix [eventstore.ReservedTypePrefix]).
//
// # Checkpoints and delivery guarantees
//
// Without a [CheckpointStore] the source keeps the position: the Kafka
// source commits consumer-group offsets, only after the handlers of the
// events before them succeeded. A crash repeats the events since the last
// commit, so handlers see every event at least once; [WithIdempotency]
// drops repeats by stream and version.
//
// With a [CheckpointStore] the runner runs the handlers of a batch inside a
// transaction of the store and writes the new position in the same
// transaction, so the read model and its position move together: every
// event has its effect exactly once, also across crashes and rebalances.
// Package [github.com/kafkaes/kafkaes/projection/sqlcheckpoint] does this
// for SQL databases (PostgreSQL); handlers get the transaction with
// sqlcheckpoint.Tx(ctx). Commits are fenced: a commit whose starting
// position is no longer the stored one (another instance got there first)
// is rolled back.
//
// # Failures
//
// A handler error is retried with exponential backoff ([WithRetry]); when
// the retries are used up, the [FailureAction] decides: [Stop] (the
// default) ends Run with a [*HandlerError], [Skip] logs the event and moves
// on, [DeadLetter] hands it to a [DeadLetterSink] (a "<topic>.dlq" topic for
// Kafka) with the error and its origin. Dead-lettering keeps the order of
// each stream: once an event of a stream is dead-lettered, the stream is
// parked and its later events follow it to the dead-letter sink instead of
// overtaking it, also after a restart (the sink remembers parked streams).
// Records that cannot be decoded at all (a corrupt or foreign record) go
// through the same policy.
//
// # Reading only the handlers' types
//
// A runner whose handlers are all [On] handlers tells its source which
// event types it reads ([Runner.ReadOptions], [Filterer]): the stored
// names of the handlers' types as the serde reads them (its registered
// name, Avro aliases, every name with an upcaster) and the lifecycle
// marker types. The Kafka Source and Reader then drop the other records
// on their headers, before anything else of them is decoded, and move
// their offsets past them. A runner with an [OnAny] or [OnRecorded]
// handler, a dead-letter sink, [WithStrictTypes] or [WithReadAll], or
// whose serde does not implement serde.TypeNamer, reads every record.
// [FromStore] reads every record (the runner still skips decoding the
// types it has no handler for).
//
// # Catch-up, rebuild, lag and read-your-writes
//
// [Runner.CatchUp] runs a projection until it has processed the log as it
// was when CatchUp started, reporting [Progress] (done/total, rate, ETA);
// [Runner.Rebuild] rebuilds a read model blue/green: a new projection (new
// name, fresh tables) catches up while the old one keeps serving, and
// readers are switched ([Rebuild].Swap) only once the fresh view holds the
// whole log; a failure or cancellation discards it instead. [Runner.Lag] reports the events not yet processed per
// partition, and [Runner.WaitFor] blocks until positions (as returned by
// an append, or by aggregate.Root.Appended after Repository.Update) have
// been processed, so a command handler can read its own writes from a
// view. [Runner.WaitForEnd] waits until every partition is processed up to
// the end of the log as it was at the call, for a fresh view that must
// catch up before it answers; it may be called before Run. Both return an
// error matching [ErrStopped], wrapping the runner's own error, when the
// runner stops first, so a caller sees why rather than a deadline.
package projection
