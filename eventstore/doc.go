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
