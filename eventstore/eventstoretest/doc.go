// Package eventstoretest is the conformance suite that every
// [eventstore.Store] implementation must pass, in the spirit of
// testing/slogtest and database/sql/driver: a store's own test calls [Run]
// with a function that creates fresh, empty stores, and the suite checks
// the whole contract of package eventstore against them.
//
//	func TestConformance(t *testing.T) {
//		eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
//			return memory.New()
//		}, eventstoretest.Features{Idempotency: true})
//	}
//
// The suite covers expected-version checks and the [eventstore.ConflictError]
// they return, atomic multi-event appends, ReadStream and ReadAll order and
// offsets, checkpoint resumption, live subscriptions, idempotent re-appends
// ([Features.Idempotency]), many concurrent writers on one stream (also
// across two store instances on the same log, [Features.Peer]),
// cancellation, bad input, metadata round trips and Close. For a store
// that implements [eventstore.MultiAppender] (checked with a type
// assertion; other stores skip these cases, saying so) it also covers
// multi-stream appends: all or nothing, conditions on streams that are
// only read, a [eventstore.MultiConflictError] naming every failed stream,
// idempotent repeats, bad input, money conserved by concurrent transfers
// across partitions and instances, and a write-skew race that at most one
// side may win. For a store that implements [eventstore.Lifecycle] it
// covers stream deletion and truncation: a deleted stream refuses reads
// and appends (also in a multi-stream append) until an explicit recreate,
// which continues numbering after the delete marker; a delete or truncate
// with a wrong expected version conflicts; reads before a truncation
// point fail with [eventstore.ErrStreamTruncated]; a second instance on
// the same log (a restart, for Kafka) sees the same; and a delete racing
// an append from another instance: exactly one of them wins.
//
// Beyond the prose of the [eventstore.Store] documentation, the suite pins
// down these details, which callers rely on:
//
//   - ReadStream from a version after the end of an existing stream yields
//     nothing and no error; ReadStream with an invalid stream ID yields an
//     [eventstore.ErrInvalidArgument] error.
//   - ReadAll and Subscribe yield the events of one partition in offset
//     order, so a [eventstore.Checkpoint] advanced over the events a reader
//     has seen resumes with exactly the rest.
//   - Iterators check their context before each event: once ctx is done,
//     the next thing they yield is ctx's error, and then they stop.
//   - Close may be called more than once (later calls return nil or
//     [eventstore.ErrClosed]); a subscription that is running when the
//     store is closed ends with an [eventstore.ErrClosed] error.
//   - Stores copy what they are given and what they return: changing an
//     appended event's Data or Metadata.Values afterwards, or a read event's,
//     does not change what the store holds.
//
// The suite is small and quick (it runs against the embedded Kafka broker
// and against real brokers alike), does not sleep, and bounds every wait by
// [Features.Timeout].
package eventstoretest
