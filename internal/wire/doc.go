// Package wire is the kafkaes wire format v1: how an event is laid out in a
// Kafka record, and how records are placed on partitions.
//
// An event record has:
//
//   - key: the stream ID as UTF-8 bytes;
//   - value: the serialized event ([eventstore.Event.Data]), untouched;
//   - headers: [HeaderType], [HeaderVersion] (decimal ASCII, first event is
//     1), [HeaderID], [HeaderTime] ([TimeLayout]: RFC 3339 in UTC with
//     six fraction digits), [HeaderCorrelation] and [HeaderCausation] when set, and one
//     [MetaPrefix]+key header per user metadata value.
//
// The partition of a key is the one the Java client's default partitioner
// chooses (murmur2 of the key bytes, made positive, modulo the partition
// count), so Java, Kafka Streams and librdkafka's murmur2 partitioner agree
// with kafkaes on where a stream lives. See [Partition] and
// [NewPartitioner].
//
// [Decode] turns a record back into an [eventstore.RecordedEvent]. It never
// panics on bad bytes; every failure is a [*DecodeError] that matches
// [eventstore.ErrCorruptLog] and names the topic, partition and offset.
//
// docs/wire-format.md in the repository describes the format for readers and
// writers in other languages; a test keeps its worked example in step with
// this package.
package wire
