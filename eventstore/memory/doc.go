// Package memory is an in-memory [eventstore.Store]: the reference
// implementation of the eventstore contract, and a fast store for tests,
// examples and single-process tools.
//
// Everything lives in one process and is lost when it exits. The store has
// a single partition, 0; an event's offset is its index in the global log,
// so [eventstore.Checkpoint] values are {0: next offset}. Subscriptions wait
// for appends without polling: every append wakes them.
//
// The store applies the same validation ([eventstore.PrepareAppend]) and
// idempotency rule ([eventstore.CheckIdempotent]) as every other store, and
// passes the conformance suite in
// [github.com/kafkaes/kafkaes/eventstore/eventstoretest] with idempotency
// enabled. It copies appended and returned events, so callers may reuse
// their buffers.
//
// Linking this package does not link any Kafka client.
package memory
