// Package eventstore defines the contract between event-sourced code and the
// log that stores its events: the [Store] interface, the event types it
// carries, expected-version semantics for optimistic concurrency, positions
// in the global log, and the errors every implementation returns.
//
// # Streams and versions
//
// A stream is the ordered history of one aggregate, named by a stream ID
// (usually the aggregate ID). The first event of a stream has version 1;
// a stream's version is the version of its last event, and a stream that
// does not exist has version 0.
//
// # Expected versions
//
// Every append states what it expects the stream to look like:
//
//   - [Any]: no check; the events go after whatever is there.
//   - [NoStream]: the stream must not exist yet (version 0).
//   - [StreamExists]: the stream must have at least one event.
//   - [Exact](n): the stream's last event must have version n.
//
// When the check fails, Append returns an error that matches
// [ErrConcurrencyConflict] with [errors.Is] and is a [*ConflictError] with
// [errors.As], carrying the stream, the expectation and the actual version.
// Nothing of a failed append is visible to readers; appends of several events
// are atomic.
//
// # Idempotent appends
//
// Every event carries an ID (a UUID; [Store.Append] fills in a random one
// when it is empty). Re-sending the same events with the same IDs, for
// example after a timeout whose outcome was unknown, does not write them a
// second time: when all IDs are already the latest events of the stream at
// the expected place, Append reports success with the original result
// (the same rule KurrentDB applies). When only some of the IDs are there,
// or they are there at a different place, Append fails with
// [ErrDuplicateEventID] and writes nothing.
//
// # Multi-stream appends
//
// A decision that spans several streams (a transfer that debits one
// account and credits another) is appended with [MultiAppender]'s
// AppendMulti: one entry per stream, each with its own expected version,
// all written or none. An entry without events is a condition: the
// stream, which the decision read but does not change, must still be at
// the expected version. A failed condition is a [*MultiConflictError]
// that names every stream whose condition failed. Both stores of this
// module implement it; [AppendMulti] calls it on any store and says so
// clearly when a store does not. package aggregate builds commands over
// several aggregates on it (aggregate.Transact).
//
// # Deleting and truncating streams
//
// Events are never erased: a store that implements [Lifecycle] (both
// stores of this module; call it through [DeleteStream] and
// [TruncateStream]) records a stream's deletion or truncation as a marker
// in the stream, an event of a reserved type ([TypeStreamDeleted],
// [TypeStreamTruncated]; [ReservedTypePrefix] is refused in appends) that
// the store writes through its normal append path. The rules:
//
//   - A marker takes the stream's next version, like an event: a
//     deletion or truncation states an expected version and conflicts
//     like an append ([*ConflictError]); a stream's version counts its
//     markers, so an aggregate loaded after a truncation saves at the
//     version after the marker.
//   - A deleted stream (its last record is a delete marker) refuses reads
//     with a [*StreamDeletedError] ([ErrStreamDeleted]) and appends with
//     the same error, also in a multi-stream append, unless the append
//     recreates it explicitly (StreamAppend.Recreate, or [Recreate]) with
//     an expectation of the marker's version. A recreated stream continues
//     numbering after the marker (as KurrentDB's soft delete does), and
//     its reads start after the marker: the deleted history is not part
//     of the new stream. Deleting or truncating a deleted stream fails
//     with the same error; deleting or truncating a stream without events
//     fails with [ErrStreamNotFound].
//   - A stream truncated before version N (usually a snapshot's version,
//     or that plus one) is read from N on: ReadStream from a version
//     before N fails with a [*StreamTruncatedError]
//     ([ErrStreamTruncated]) naming N, so a reader never builds state
//     from part of the history; from N on it yields the events and the
//     truncate marker at its version. A truncation never moves back.
//   - ReadAll and Subscribe yield every record, markers included, where
//     they are in the log; [IsMarker] tells them apart and [ParseMarker]
//     reads them. package aggregate skips markers when it rebuilds an
//     aggregate; the projection runner hands them to handlers that ask
//     for them as notices (projection.StreamDeleted,
//     projection.StreamTruncated) and to no other handler.
//
// Nothing is removed from the log: the events of a deleted or truncated
// stream stay in ReadAll (and, for Kafka, in the topic). Erasing personal
// data is crypto-shredding's job (package serde), not this one's.
//
// # Implementations
//
// [github.com/kafkaes/kafkaes/eventstore/memory] is the reference
// implementation; [github.com/kafkaes/kafkaes/eventstore/kafka] stores
// events in an Apache Kafka topic. Every implementation passes the
// conformance suite in [github.com/kafkaes/kafkaes/eventstore/eventstoretest].
//
// [PrepareAppend] and [CheckIdempotent] are for store implementations
// only; an application never calls them. They stay in this package rather
// than a separate one for implementers because they are the executable
// half of this contract (the input rules and the idempotency rule above):
// an implementation imports one package for the contract and its rules,
// and every store rejects the same bad input with the same errors.
package eventstore
