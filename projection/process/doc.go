// Package process runs process managers (sagas): components that react to
// events by deciding and changing other aggregates, exactly once.
//
// A [Manager] consumes events like a projection (a consumer-group source
// of package kafkaprojection, or projection.FromStore) and hands each
// event to its [Handler] for the event's Go type, with an
// [aggregate.Tx]: the handler loads the aggregates it needs through the
// transaction (Repository.LoadIn, LoadOrNewIn), runs commands on them,
// and returns. The manager saves what the handlers of a batch changed,
// each aggregate expecting the version it was loaded at (aggregates only
// read are conditions), together with its own position after the batch,
// in one atomic step by its [Committer]:
//
//   - kafkaprojection.ProcessCommitter writes the events and the consumer
//     group's offset in one Kafka transaction
//     (kafka.Store.AppendMultiWithOffsets), with a source made by
//     kafkaprojection.NewProcessSource, which commits no offsets of its own
//     (a plain commit of an older offset landing after a transaction's
//     would move the group back). A crash before the commit
//     leaves neither, and the batch is processed again; after it, both
//     are there and the batch is not processed again. An instance that
//     lost its partition in a rebalance is refused by the group (KIP-447
//     generation fencing), so a zombie cannot commit; the new owner reads
//     only stable offsets, so it never resumes before an old owner's
//     commit is decided. Each transaction also writes the position to the
//     group's positions topic, and a new owner resumes from the later of
//     the two, because Kafka lost a committed transaction's offsets once
//     in the fault tests (docs/faults.md).
//   - [MemoryCommitter] appends to a memory store and keeps the position
//     in memory: exactly once within a process, for tests and
//     single-process tools.
//
// Everywhere else this takes an outbox, an idempotency table and
// at-least-once delivery written by hand (Axon, Marten and KurrentDB users
// do this); on Kafka the input offset, the concurrency check of every
// written stream and the written events can share one transaction.
//
// A conflict (an aggregate changed since the handler loaded it) makes the
// manager decide the whole batch again on fresh loads; a batch is never
// skipped, so keep handlers free of other side effects (they may run more
// than once for an event; their effects are committed once). A handler
// error stops [Manager.Run] with a projection.HandlerError and commits
// nothing of the batch: fix the handler or the data and restart. A
// handler error matching eventstore.ErrUnavailable (a load the store
// could not complete now, for example while a crashed writer's
// transaction holds the stream until the broker aborts it) is not the
// handler's fault: the batch is decided again after a pause. Events of
// types the manager has no handler for, or that its serde does not know,
// are passed over (their position still moves).
//
// Batches hold events of one partition in log order; handlers of one
// batch share one transaction, so a later event's handler sees what an
// earlier one changed. Test handlers in given/when/then form with package
// processtest.
package process
