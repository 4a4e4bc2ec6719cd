// Package snapshot keeps the latest state of long event streams, so that
// loading an aggregate costs the same whether it has a hundred events or a
// hundred thousand: load the latest snapshot, then apply only the events
// recorded after it.
//
// A snapshot is a cache. Events are the source of truth and are always
// stored first; a missing, failed, outdated or foreign snapshot only makes
// a load slower, never wrong. The pieces:
//
//   - [Store]: where snapshots live. [github.com/kafkaes/kafkaes/snapshot/memory]
//     keeps them in memory (tests, single process);
//     [github.com/kafkaes/kafkaes/snapshot/kafka] keeps them in a compacted
//     Kafka topic.
//   - [Policy]: when to take one: [EveryN] events, [Every] duration, a
//     [Custom] predicate, or combinations with [Any] and [All].
//   - [Writer]: writes snapshots in the background through a bounded
//     queue, retrying failed writes, so that the command that triggered a
//     snapshot is neither failed nor slowed by the snapshot store.
//
// Aggregates use snapshots through aggregate.WithSnapshots, which encodes
// the aggregate's state with the repository's serde (any
// [github.com/kafkaes/kafkaes/serde.Serde], JSON or Avro), checks the
// snapshot's schema version and the event it covers on load, and falls back
// to replaying every event when anything does not match.
package snapshot
