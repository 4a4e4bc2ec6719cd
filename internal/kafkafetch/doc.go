// Package kafkafetch reads Kafka partitions with raw sarama fetch requests,
// for the parts of kafkaes that need what sarama's consumer hides: the last
// stable offset, transaction markers, the producer of every record, and the
// exact offset after the last batch of a response (markers and aborted
// records take offsets but are never delivered, so "consume until the last
// offset" with the consumer can wait forever).
//
// [Fetch] reads several partitions of a topic once: it groups them by
// leader, sends one FetchRequest (v11, outside any fetch session) to every
// leader in parallel, and decodes the responses into [Partition] values.
// Records of aborted transactions are always dropped, using the response's
// aborted-transaction list the way the Java consumer does; transaction
// markers are dropped unless [Options.Markers] asks for them.
// [ListOffsets] asks the leaders for the log start, high watermark or last
// stable offset of partitions.
//
// Errors that concern the whole request (no leader, a broken connection, a
// broker-level error code) are returned by the call, after the client's
// metadata was refreshed (and a broken broker connection closed) so that a
// retry can succeed; [Retriable] tells which Kafka error codes are worth a
// retry. An error code of a single partition is reported in that partition's
// [Partition.Err] as a [*PartitionError], and the other partitions' results
// are valid.
//
// The package does not retry: the event store, the snapshot store and the
// operator CLI each retry with their own policy. It imports sarama, so the
// core packages (eventstore, aggregate, serde, ...) must not import it.
package kafkafetch
