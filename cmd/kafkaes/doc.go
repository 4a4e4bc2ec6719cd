// Command kafkaes is a command-line tool for operators of event-sourced
// services built with kafkaes: it lists and checks their Kafka topics, finds
// hanging transactions, prints streams, follows new events, verifies a whole
// events topic, checks Avro schema changes against the Schema Registry, and
// shows or resets the position of projections.
//
// Install:
//
//	go install github.com/kafkaes/kafkaes/cmd/kafkaes@latest   # or: go build ./cmd/kafkaes in a checkout
//
// Usage:
//
//	kafkaes [global flags] <command> [flags] [arguments]
//
// Flags may come before or after the command and its arguments.
//
// # Connecting
//
//	--brokers host:port,...   bootstrap brokers (env KAFKAES_BROKERS); required
//	                          for every command except schema check
//	--schema-registry URL     Schema Registry (env KAFKAES_SCHEMA_REGISTRY), to
//	                          decode Avro payloads and for schema check
//	--topic NAME              events topic (env KAFKAES_TOPIC; default "events")
//	--kafka-config FILE       a Kafka client.properties file (env
//	                          KAFKAES_KAFKA_CONFIG): bootstrap.servers,
//	                          security.protocol, sasl.mechanism,
//	                          sasl.jaas.config, ssl.truststore.* and
//	                          ssl.keystore.* with PEM files (see package
//	                          kafkaconfig for the exact keys; others are
//	                          refused), and the Schema Registry's
//	                          schema.registry.url, basic.auth.user.info,
//	                          bearer.auth.token and
//	                          schema.registry.ssl.truststore.location (PEM).
//	                          Flags and environment override the file.
//	--tls, --tls-ca FILE      TLS to the brokers; --tls-cert FILE and
//	                          --tls-key FILE for a client certificate (PEM)
//	--sasl-user NAME          SASL user (env KAFKAES_SASL_USER), password in
//	                          env KAFKAES_SASL_PASSWORD
//	--sasl-mechanism M        PLAIN (default), SCRAM-SHA-256, SCRAM-SHA-512,
//	                          or OAUTHBEARER with a static token in env
//	                          KAFKAES_SASL_TOKEN (env KAFKAES_SASL_MECHANISM)
//	--schema-registry-ca FILE, --schema-registry-cert FILE,
//	--schema-registry-key FILE  TLS to the registry (PEM)
//	--schema-registry-user U  registry basic auth, password in env
//	                          KAFKAES_SCHEMA_REGISTRY_PASSWORD; or a bearer
//	                          token in env KAFKAES_SCHEMA_REGISTRY_TOKEN.
//	                          Credentials in the registry URL work too; the
//	                          CLI never prints them.
//	--kafka-version 3.6.0     protocol version; --timeout 30s per request
//	--quiet                   no progress messages on stderr
//
// Without brokers kafkaes explains how to point it at a cluster and exits
// with status 3. When the cluster refuses the connection, the message
// carries the broker's reason (a failed SASL authentication, a mechanism
// the listener does not enable, a TLS error). docs/security.md shows a
// complete set-up.
//
// # Commands
//
// topics lists the kafkaes topics of the cluster (or the comma-separated
// --topic list) with their partition counts, replication factors and
// effective configuration. It tells events topics (records with es.version
// and es.id headers) from snapshot topics (es.version and es.type without
// es.id) and dead-letter topics (dlq.* headers) by their first records,
// never by name: a topic of another application (such as a Schema
// Registry's "_…-snapshots" topic) is not listed without --all, and an
// empty topic is listed as empty and not checked (name it with --topic to
// check it as an events topic). It flags violations: an events topic must have cleanup.policy=delete,
// retention.ms=-1 and retention.bytes=-1 (compaction or expiry loses
// events), a snapshot topic must be compacted. Each violation comes with the
// kafka-configs.sh command that fixes it. --all also lists other topics.
//
//	$ kafkaes --brokers localhost:9092 topics
//	KIND       TOPIC            PARTITIONS  RF  CLEANUP.POLICY  RETENTION.MS  STATUS
//	events     bank-events      12          3   delete          -1            ok
//	events     orders           6           3   delete          604800000     VIOLATION (1)
//	snapshots  bank-snapshots   12          3   compact         604800000     ok
//	VIOLATION events topic orders: retention.ms=604800000 (7 days), want -1: ...
//
// topics hanging finds hanging transactions: open transactions that hold
// back the last stable offset of a partition, so that read_committed
// readers (projections, tail, catch-up) see nothing past their first record
// (see "Markers Kafka does not write" in package eventstore/kafka). It
// checks every partition of the --topic topics (every topic but Kafka's
// internal ones without --topic): it asks each partition leader for its
// producer state (DescribeProducers, Kafka 2.8 or later) and for the
// partition's last stable offset (LSO) and high watermark (HW), and reports
// each open transaction whose producer has not written to the partition for
// longer than --older-than, by default the brokers'
// transaction.max.timeout.ms (15m unless configured; no live producer can
// keep a transaction open longer). Each comes with the producer ID and
// epoch, the transaction's start offset, how long the producer has been
// idle, how many offsets it holds back (HW - start) and the
// kafka-transactions.sh command that aborts it; abort only transactions
// whose producer is gone for good (a kafkaes store settles its own when it
// restarts with the same transactional ID prefix). Exit status 1 when a
// transaction hangs, so it fits a monitoring check; 0 when none does (the
// summary also counts younger open transactions).
//
//	$ kafkaes --brokers localhost:9092 --topic bank-events topics hanging
//	TOPIC        PARTITION  PRODUCER-ID  EPOCH  START-OFFSET  IDLE    HELD-BACK  LSO   HW
//	bank-events  1          4012         0      1041          41m3s   57         1041  1098
//	HANGING bank-events/1: producer 4012 (epoch 0) has had a transaction open since offset 1041 and has not written for more than 15m0s; ...
//	  fix: kafka-transactions.sh --bootstrap-server localhost:9092 abort --topic bank-events --partition 1 --start-offset 1041
//	1 hanging transaction(s) (open for more than 15m0s, the broker's transaction.max.timeout.ms). ...
//
// It uses the same test as kafka-transactions.sh find-hanging (the
// producer's last write to the partition is older than the threshold) but
// does not also ask the transaction coordinator whether it still tracks the
// transaction: with the default threshold the coordinator should have ended
// it long ago (a coordinator still retrying its markers, e.g. while the
// partition has no leader, is reported too), and a short --older-than also
// reports transactions that are merely long. Kafka's internal topics
// (__consumer_offsets, __transaction_state) are only checked when named
// with --topic.
//
// stream <id> prints the events of one stream as JSON lines, in version
// order. It reads them the way the Kafka event store loads a stream: a
// read-only store of the topic (kafka.WithReadOnly: no producer, nothing
// written) builds the stream index of the stream's partition (murmur2 of
// the stream ID), then fetches only the stream's own records at the
// offsets the index holds. Building the index reads the partition's keys
// and headers read_committed from its start, so without --index-dir the
// cost still grows with the partition (about what a scan costs). With
// --index-dir DIR, the directory where a store of the topic saves its
// index (kafka.WithIndexDir), it loads that index and reads only what was
// appended since it was saved (at most about 5 minutes of appends while
// the store runs, or since its last clean Close), plus the stream's own
// records: the cost no longer depends on the partition's size. The file is
// only read (a running store may share the directory); when it does not
// match the topic any more it is ignored (said on stderr) and the index is
// built from the partition. A stream whose history is not what a load
// reads (a damaged record of the stream, or lifecycle markers: deleted,
// truncated or recreated) is shown by a scan of the partition instead,
// which prints every record keyed by the stream ID. Each line has the topic,
// partition, offset, stream, version, type, id, time, correlation,
// causation and metadata of the event, and its payload: with
// --schema-registry, Confluent-framed Avro payloads are decoded with the
// writer's schema (fetched by the ID in the payload; schema references are
// resolved) into JSON for people ("data"): record fields in schema order,
// decimals as strings with the schema's scale ("7.07"), timestamps as RFC
// 3339 UTC times, dates as 2006-01-02, unions as the branch's value, bytes
// in base64 (this is not Avro's JSON encoding); without it, JSON payloads
// are shown as "data" and others as "data_base64" (with "schema_id" for
// framed ones). --limit N stops after N events. --to-version N prints
// the stream as it was at version N (exit 1 when it has fewer events);
// --as-of TIME (RFC 3339) prints the events recorded at or before TIME
// (their es.time) and stops at the first later one. stream makes the checks
// verify makes on the stream's records (a record that is not a valid
// event, a version gap or repeat, a duplicate event ID, with
// --schema-registry an undecodable payload): each problem is printed on
// stderr after the events and the exit status is 1. Partitions added to the
// topic after the stream was written move its key elsewhere (verify reports
// that as wrong-partition); stream reads only the partition the key maps to
// now. A stream's lifecycle markers (eventstore.Lifecycle: a deletion or a
// truncation, records of type $es.stream-deleted or $es.stream-truncated
// without payload) are printed where they are, with "marker": "deleted" or
// "truncated" (and "truncate_before": N); after the events, stream says on
// stderr what they mean for loads (the stream is deleted, truncated before
// version N, or recreated after a deletion). Every record stays in the log
// and is printed.
//
//	$ kafkaes stream account-42 --topic bank-events --schema-registry http://localhost:8081
//	{"topic":"bank-events","partition":7,"offset":1041,"stream":"account-42","version":1,"type":"bank.AccountOpened",...,"data":{"owner":"ada"}}
//
// With --schema-registry, fields that the schema marks as encrypted
// personal data (kafkaes.pii) show their envelope ("pii:..."); with
// --key-topic (stream and tail) they are decrypted with the keys in that
// topic (package serde/pii/kafkakeys), and the fields of an erased subject
// show their zero value and are listed in the line's "redacted" array.
// Decrypted output holds personal data: mind where it goes.
//
// tail prints new events of the topic as JSON lines (the same format) as
// they are committed, from the end of the topic or, with --from-beginning,
// from its start, until Ctrl-C (or --limit N events). It follows the
// partitions the topic had when tail started.
//
// verify reads the whole events topic read_committed, from the log start of
// every partition to its last stable offset as it was when verify started,
// and checks:
//
//   - every record is a valid kafkaes event record (wire format v1 headers;
//     a record of another producer is a violation);
//   - the versions of every stream are 1, 2, 3, ... in offset order: no gap,
//     no duplicate version;
//   - every event ID is unique in the topic;
//   - every stream is on the partition its key hashes to;
//   - no records were deleted from the start of a partition;
//   - a record of a reserved type ($es.) is a valid lifecycle marker
//     without payload (invalid-marker otherwise); markers take versions
//     like events, so the version checks hold for them too;
//   - with --schema-registry, every payload decodes by its framing: a
//     Confluent-framed one completely with its registered schema, any
//     other as JSON (the JSON serde's payloads; a topic may hold both);
//   - with --schema-registry, no field that the writer's schema marks as
//     encrypted personal data (the "kafkaes.pii" field property, see
//     package serde/pii) holds plaintext: a non-empty value that is not an
//     envelope is a pii-plaintext violation (such a record cannot be
//     shredded by erasing the subject's key). JSON payloads carry no schema
//     and are not checked for it.
//
// Every violation is printed with topic/partition@offset, then a summary
// line (--json prints the violations as JSON lines and the summary on
// stderr; --max-violations limits how many are printed, all are counted). Progress goes to stderr once a second.
// Transaction markers and aborted records take offsets but are never
// delivered, so verify reads with raw fetches that report how far they got
// and ends exactly at the last stable offset; an open transaction does not
// hold it up. It keeps every event ID in memory (about 100 bytes each).
//
// erase <subject-id> --yes erases a data subject: it writes a tombstone for
// the subject's key to the key topic (--key-topic, default
// "<topic>.pii-keys"; package serde/pii/kafkakeys), in a transaction, so
// that every field encrypted for the subject becomes unreadable once
// compaction has run. Without --yes it only says whether the subject has a
// key. It does not append the pii.SubjectErased notice that projections
// scrub their views on: that needs the service's serde, so services erase
// with erasure.Eraser, and operators use this command when the service
// cannot.
//
// schema check <file.avsc> checks a new Avro schema against every version
// registered under its subject, with the compatibility checker of package
// serde/avro (the rules the avro serde applies before it registers a
// schema). The subject is --subject, or "<topic>-<record full name>" (the
// TopicRecordName strategy, the serde's default). The level is --level, or
// the subject's level in the registry. An incompatible schema prints the
// version it breaks, the direction (backward: the new schema reading old
// data; forward: old schemas reading new data), the field path and the
// broken rule, and exits 1.
//
//	$ kafkaes schema check --schema-registry http://localhost:8081 --topic bank-events Deposited.avsc
//	schema check: Deposited.avsc is INCOMPATIBLE with subject "bank-events-bank.Deposited" (2 versions, level FULL_TRANSITIVE from the registry's level for the subject)
//	  breaks: version 1, new schema reading data written with the old one (backward)
//	  at:     Deposited.fee
//	  rule:   field "fee" is not in the writer's schema and has no default
//	  fix:    make the change compatible (add fields with defaults, do not change field types), or introduce a new event type with an upcaster
//
// projection status --group ID shows the consumer group of a projection
// (package projection/kafkaprojection consumes with a consumer group): its
// state and members, and per partition the committed offset, the end (last
// stable offset), the offset lag and the events behind (counted by reading
// them, up to 100000 offsets per partition, since transaction markers take
// offsets too). The topics are those the group committed offsets for, or
// --topic. For a process manager (kafkaprojection.ProcessCommitter) it
// also shows its last position record (from <topic>.<group>.positions):
// the manager resumes from the later of that and the committed offset, so
// the lag is counted from there.
//
// projection rebuild --group ID resets the group's committed offsets to the
// start of the log, so the projection replays every event when it starts
// again. It prints the change and does nothing without --yes, and it
// refuses while the group has members (stop the projection first), and
// for a process manager: its position records would keep it where it is,
// and re-running it repeats its decisions' effects (the error says how to
// do it deliberately). It does
// not touch the read model: clear it first or make its handlers tolerate a
// replay. Projections that keep their position in a projection.CheckpointStore
// (such as projection/sqlcheckpoint) have no group offsets to reset: reset
// their checkpoint in their database. To rebuild without a window in
// which readers see a half-built view, rebuild blue/green in the service
// with projection's Runner.Rebuild: a runner under a new name fills fresh
// tables while the current ones serve, and readers are switched only once
// it has caught up.
//
// dlq list reads the dead-letter topic (<topic>.dlq, or --dlq-topic) and
// prints one JSON line per projection and parked stream: how many letters
// it has and how many of them failed themselves (the others are events
// parked behind the first failure, so that the stream's order is kept),
// the version it is parked from, the first reason and the time of the last
// letter. --projection keeps one projection's. dlq show STREAM prints the
// stream's letters as JSON lines like stream does (the payload decoded
// through the registry when one is given), each with its projection,
// reason, parked flag, attempts, time and origin topic, partition and
// offset; it exits 1 when the stream has no letters.
//
// dlq retry STREAM --projection NAME and dlq drop STREAM --projection
// NAME release a parked stream: they write a release record (who asked,
// from --by or $USER, and when) to the dead-letter topic, and the
// projection's runner that reads the stream's partition acts on it
// before that partition's next delivery or when it starts: retry hands
// the stream's letters to the handlers again, in version order and before
// any later event of the stream, then un-parks it (if a letter fails
// again the stream stays parked and the reason is recorded); drop gives
// the letters up and un-parks the stream. The runner records the outcome
// in the topic; dlq list shows a release not acted upon yet and the
// reason the last one failed, and no longer lists a released stream.
// Fix the cause (deploy the corrected handler) before a retry.
//
// # Exit status
//
// 0: done, nothing wrong; 1: violations found (verify, topics, topics
// hanging, schema check, or stream found no events or a damaged record);
// 2: the command failed (cluster or registry unreachable, topic missing,
// ...); 3: bad command line (also kafkaes without a command, and
// projection rebuild without --yes).
package main
