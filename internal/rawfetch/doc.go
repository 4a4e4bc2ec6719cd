// Package rawfetch reads Kafka partitions with raw read_committed Fetch
// requests sent through a franz-go client, and walks the record batches of
// the responses itself ([Batches]) instead of having a client decode every
// record into its own structures: the readers that go through most of a
// topic and need only part of each record (the event store's index build
// at start, a filtered projection reader) spend most of their CPU on that
// decoding otherwise.
//
// [NewClient] makes the franz-go client from a sarama configuration (TLS,
// SASL PLAIN and SCRAM); for other SASL mechanisms it reports that it
// cannot, and callers read through sarama. [Leaders] finds partition
// leaders with the client's metadata requests, [FetchCommitted] sends one
// Fetch request (version at most [FetchVersion], outside any fetch
// session) to a leader.
//
// [Batches] checks every batch's CRC, decompresses zstd batches with a
// pooled decoder, and drops control batches and the records of aborted
// transactions the way the Java consumer does; a response with anything
// else (other codecs, old message formats, a bad CRC) is left to
// kgo.ProcessFetchPartition. It is fuzzed (FuzzBatches).
//
// The package imports sarama and franz-go, so the core packages must not
// import it.
package rawfetch
