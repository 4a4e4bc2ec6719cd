// Package kafkaprojection connects projections to Apache Kafka through
// sarama:
//
//   - [Source] reads an events topic through a consumer group, so a
//     projection scales out over several instances and partitions move
//     between them when instances come and go. It starts a new group at the
//     oldest offset (sarama's default is the newest) and reads with
//     isolation read_committed, so it never sees events of aborted appends.
//   - [Reader] reads every partition with plain partition consumers (no
//     group): for rebuilds and catch-up, and for single-instance
//     projections that keep their checkpoint in their own database.
//   - [DLQ] is a dead-letter sink that writes failed events to
//     "<topic>.dlq" with the error and the event's origin in headers.
//   - [Transformer] consumes an events topic, turns events into records of
//     another topic and produces them in a Kafka transaction together with
//     the consumer offsets: exactly once, like a Kafka Streams map/filter.
//
// # Delivery guarantees of Source
//
// Without a checkpoint store the source marks a record's offset for commit
// only after the runner finished with it (handled, skipped or
// dead-lettered), and commits the marks every Consumer.Offsets.AutoCommit
// interval and when partitions are revoked: at least once. With a
// checkpoint store (package sqlcheckpoint) the stored checkpoint decides
// where each assigned partition starts, whatever the group offsets say, and
// the group offsets are only moved along for monitoring: exactly once.
//
// # Rebalances
//
// When partitions are revoked, the source stops taking new records of them,
// lets the batch in flight finish (handlers run with the Run context, not
// the session context), marks and commits what is done, and returns, within
// Consumer.Group.Rebalance.Timeout. Records fetched but not started are
// abandoned and are delivered to the partition's next owner. A graceful
// hand-over repeats nothing; an instance that dies leaves its uncommitted
// work to be repeated (offsets) or rolled back (checkpoint store). sarama
// notices a rebalance at its next heartbeat
// (Consumer.Group.Heartbeat.Interval, 3s by default): lower it for quicker
// hand-overs.
//
// # Topics are never auto-created
//
// Every client of the package sends its Metadata requests with topic
// auto-creation off, whatever the sarama config passed in says (sarama
// allows it by default, and so does a broker with Apache Kafka's stock
// auto.create.topics.enable=true): a missing events, dead-letter or output
// topic is an error naming it and saying how to create it (matching
// sarama.ErrUnknownTopicOrPartition), from [Source.End], Run, [NewDLQ] and
// the transformer's commit, never a topic with the broker's default 7-day
// retention.
//
// # Corrupt records and version anomalies
//
// A record that is not a valid event reaches the runner with
// projection.Record.DecodeErr set (matching eventstore.ErrCorruptLog), and
// the runner's failure policy decides (Stop, Skip, DeadLetter). So does an
// event out of place in its stream: a version that does not follow the
// version of the stream's event read before it in the same partition (a
// gap, a duplicate, a foreign record with a valid-looking es.version). The
// sources only know what they read: the first event of a stream after the
// start of a read (a checkpoint, a new claim) is not checked; projections
// through projection.FromStore on the Kafka event store check every event
// against the store's index.
//
// # Filters
//
// [WithReadOptions] gives a [Source] or [Reader] the read options of the
// event store (eventstore.WithTypes, eventstore.WithStreamPrefix): records
// of other types or streams are dropped on their key and es.type header
// before the wire format or the value is decoded, and count as read
// (offsets and catch-up move past them). A filtered [Reader] does not use
// sarama's consumer: it sends raw read_committed Fetch requests to the
// partition leaders through a franz-go client with the sarama
// configuration's connection settings (TLS, SASL PLAIN and SCRAM; with
// another SASL mechanism it uses sarama's consumer) and walks the record
// batches itself (uncompressed ones; franz-go's parser takes the others),
// dropping control batches and aborted transactions' records with the
// response's aborted-transaction list, and reading only the key and the
// first headers of a record the filter drops, so that such records cost
// little more than their bytes. A filtered [Source] (consumer group) reads
// its claimed partitions the same way: sarama's consumer group still does
// membership, assignment, rebalances and offset commits, but each claim's
// sarama partition consumer is paused (what it fetched before the pause is
// dropped) and the partition is fetched raw from the claim's initial
// offset; the group offset is marked after every batch the sink took and
// after every fetch whose matching records were all delivered, so
// filtered records move it too. A revoked claim stops fetching and
// delivers nothing more once it sees the revocation (a batch the sink is
// already working on is finished, as on the sarama path). A process
// source ([NewProcessSource]) and a source whose SASL mechanism the raw
// client cannot carry over keep sarama's consumer, and drop filtered
// records after sarama decoded them. BENCHMARKS.md has the measurements.
//
// A runner needs no WithReadOptions to read only its types: [Source.Run]
// and [Reader.Run] ask the sink for its filter (projection.Filterer), and
// a runner whose handlers are all projection.On handlers gives the stored
// names of their types (see projection.Runner.ReadOptions for when it
// asks for everything). A filter given with WithReadOptions wins, field
// by field (projection.SinkReadOptions).
//
// # Secured clusters
//
// A [Source] needs Read on the events topic and on its consumer group; a
// [DLQ] Read and Write on the dead-letter topic; a [Reader] Read on the
// topic. A denied request ends Run at once with an [*AuthorizationError]
// (matching [ErrNotAuthorized]) naming the ACL to add, instead of
// rejoining the group or waiting forever; docs/security.md lists every
// component's ACLs.
package kafkaprojection
