// Package kafka is a [snapshot.Store] that keeps snapshots in a compacted
// Kafka topic, using sarama.
//
// # Topic and record format
//
// The topic must have cleanup.policy=compact (or "compact,delete"); [New]
// checks it and refuses to start otherwise, naming the setting, because a
// topic with cleanup.policy=delete would first grow without bound and then
// expire the only snapshot of quiet streams. [WithCreateTopic] creates a
// missing topic with cleanup.policy=compact.
//
// Every snapshot is one record:
//
//   - key: the stream ID, UTF-8 bytes; compaction keeps the latest record
//     per stream.
//   - value: the serialized state, exactly as the repository's serde wrote
//     it (with Avro: Confluent wire format, magic byte 0, schema ID, body).
//   - headers:
//     es.version: the stream version the snapshot covers, decimal ASCII
//     (the state is the result of events 1..es.version);
//     es.type: the serde type name of the state;
//     es.snapshot.schema: the aggregate's snapshot version
//     (aggregate.SnapshotVersioner), decimal ASCII, "0" by default;
//     es.snapshot.event: the ID of the event at es.version, used to detect
//     a snapshot that belongs to another history of the stream (may be
//     absent);
//     es.time: when the snapshot was taken, RFC 3339 UTC.
//
// A record with a null value (a tombstone) deletes the stream's snapshot.
// Records that do not carry valid es.version and es.type headers are
// skipped with a log line.
//
// # Lookups without scanning
//
// [New] reads the topic once, from its start to the high watermark, and
// keeps an in-memory index from stream ID to the partition, offset and
// version of the stream's latest snapshot record (progress is logged and
// reported through [WithProgress]; the ctx given to New cancels it). A
// load fetches the single record at the indexed offset, so its cost does
// not depend on the size of the topic. The index is kept up to date by the
// store's own writes and by polling the topic for records written by other
// instances every [WithRefreshInterval] (1s by default); until a new
// snapshot of another instance is indexed, loads use the older one, which
// is correct (the repository then replays a few more events). When the
// indexed record has been compacted away, the load catches up the
// partition and tries again.
//
// Memory: the index holds one entry per stream with a snapshot, about 100
// bytes plus the length of the stream ID (roughly 120 MB for a million
// streams with 20-byte IDs). A cache of the latest values instead would
// hold every snapshot's state in memory, which is unbounded in the size of
// the states; the index keeps memory proportional to the number of streams
// and costs one fetch per load.
//
// Within a partition the latest record wins, as compaction decides. A
// store skips writing a snapshot older than the one it has indexed, but an
// instance that has not yet seen another's newer snapshot may still write
// an older one after it; loads then use that older snapshot (never a wrong
// state, just more events to replay) until the next snapshot.
//
// The same stream ID should always land in the same partition (use the same
// partitioner in every writer; sarama's default hash partitioner is fine).
// If a stream's snapshots appear in several partitions anyway, the index
// keeps the one with the highest es.version.
package kafka
