// Package kafka is an [eventstore.Store] on an Apache Kafka topic, written
// on github.com/IBM/sarama, with real optimistic concurrency: any number of
// store instances, in any number of processes, may append to the same
// streams at once, and an append whose expected version no longer holds
// fails with an [eventstore.ConflictError] and leaves nothing behind.
//
//	client, _ := sarama.NewClient(brokers, cfg) // your TLS, SASL, client ID
//	store, err := kafka.New(ctx, client, "bank-events")
//	...
//	defer store.Close()
//
// # The client and the options that matter
//
// Pass a connected sarama.Client configured as for any other use of the
// cluster: broker addresses, TLS, SASL, client ID. The store needs no
// particular producer or consumer settings: it reads the client's
// configuration and opens its own connections from copies of it, with
// what the store needs set there (its own transactional producers writing
// with acks=all, read_committed fetches, protocol version at least 2.5, no
// topic ever auto-created by a metadata request), so a producer or
// consumer setting of yours cannot weaken its guarantees. It never closes
// your client.
//
// The options most deployments set:
//
//   - [WithCreateTopic]: create the topic when it is missing, with the
//     settings below; otherwise [New] fails and says how to create it.
//   - [WithTransactionTimeout]: how long a crashed writer's open
//     transaction holds back readers of its partitions (default 10s).
//   - [WithAppendTimeout]: the bound on every Append (default 30s).
//   - [WithProgress]: progress of the index build at start, which reads
//     the whole topic (see [New]).
//   - [WithIndexDir]: a directory on local disk where Close saves the
//     stream index, so that the next start reads only what was appended
//     since (see Resources); with [WithDiskIndex], the index lives there
//     and memory holds a bounded cache of it.
//   - [WithTransactionalIDPrefix]: the prefix of the transactional IDs,
//     when ACLs grant another prefix than the topic-derived default
//     (see Secured clusters).
//
// Tuning ([WithGroupCommit], [WithConcurrentTransactions],
// [WithCompression], [WithIdempotencyWindow]) rarely needs changing; the
// defaults are measured in BENCHMARKS.md. The errors Append returns and
// what to do about each are under Append errors; how reads behave while a
// broker is away, under Reads. How the store keeps optimistic concurrency
// sound on Kafka, and what each cluster fault costs, comes last.
//
// # Layout
//
// Every event is one record of the events topic (wire format v1, see
// docs/wire-format.md): key = stream ID, value = the event data, headers
// es.type, es.version, es.id, es.time, es.correlation, es.causation and
// meta.<key>. A stream lives on the partition the Java client's default
// partitioner (murmur2) picks for its key, so all of its events are in one
// partition, in version order. Never add partitions to an events topic:
// streams would move.
//
// # Topic configuration
//
// Events are the source of truth, so [New] refuses a topic that can lose
// them: cleanup.policy must be delete (not compact) and retention.ms and
// retention.bytes must be -1; the error names the setting to change.
// [WithAllowUnsafeTopic] overrides the check; [WithCreateTopic] creates a
// missing topic with safe settings. In production use a replication factor
// of at least 3, min.insync.replicas=2 and unclean.leader.election.enable=false:
// the store writes with acks=all, and an acknowledged event then survives
// the loss of any one broker. With fewer replicas an acknowledged event can
// be lost with its broker, and the guarantees below hold only for what the
// cluster keeps.
//
// # Append errors
//
// Every error of Append is one of these (TestAppendErrorContract breaks
// every kind of request the store sends during contended appends and
// checks each answer against the log):
//
//   - a conflict ([eventstore.ConflictError], [eventstore.ErrConcurrencyConflict]):
//     the index holds another version than expected, or the conflict scan
//     met another writer's record of the stream (Actual is -1 when that
//     record stayed undecided through every attempt); nothing written.
//   - [eventstore.ErrUnavailable]: the catch-up before the version check
//     made no progress for 5s (a leader away), the append gave up after 8
//     transactions that failed for reasons of the cluster (no producer, a
//     failed settle check, produce or scan errors, an abort after a
//     caller cancelled), or the append timeout ([WithAppendTimeout]) ended
//     before it was committed; nothing written, retry later.
//   - [ErrUnknownOutcome] (matching [eventstore.ErrUnknownOutcome]): the
//     commit was sent and its answer lost, the caller's deadline ended
//     during a commit that did not end within the transaction timeout, or
//     a repeat of such an append failed without proving its fate.
//   - definite failures that wrote nothing: [eventstore.ErrInvalidArgument]
//     (a bad call, or an event the broker refuses as too large),
//     [eventstore.ErrDuplicateEventID], [eventstore.ErrClosed],
//     [eventstore.ErrCorruptLog] (the stream's log holds a record that is
//     not a valid event at its place; see below), the
//     caller's own context error ("nothing was written"), and a broker's
//     permanent refusal (for example an authorization error), whose
//     transaction was aborted.
//
// # Idempotency
//
// The index remembers the IDs of the latest [DefaultIdempotencyWindow]
// events of every stream ([WithIdempotencyWindow]); it is rebuilt from the
// log at start, so re-sending an append after a restart is still
// recognised. IDs older than the window are not checked. IDs are compared
// by their 16-byte key: the UUID's bytes (exact) or, for IDs that are not
// canonical lower-case UUIDs, the first 16 bytes of their SHA-256, so two
// such IDs are confused only by a 128-bit hash collision.
//
// # Deleting and truncating streams
//
// [Store.DeleteStream] and [Store.TruncateStream] implement
// [eventstore.Lifecycle]; [Store.AppendMulti] recreates a deleted stream
// for an entry with Recreate set. The events topic stays append-only and
// is never compacted: a deletion or truncation is a marker record of the
// stream (es.type $es.stream-deleted or $es.stream-truncated, a null
// value, the truncation point in the header es.truncate-before; see
// docs/wire-format.md), written as an event is: queued like an append,
// checked against the index (expected version, the lifecycle rules), in
// a transaction covered by the conflict scan, so a delete and an append
// racing from two instances are ordered like two appends: the lowest
// offset wins and the other fails (a conflict, or ErrStreamDeleted).
// TestDeleteRaceLog races them and checks the topic with a plain
// read_committed consumer.
//
// The index keeps, per stream with markers, the version of its latest
// delete marker and its truncation point (16 bytes more; every stream's
// state holds an 8-byte pointer to them, nil without markers, which keeps
// it at 80 bytes, the allocation size class it took before), from the records it reads (at start, catch-up, the
// conflict scan) and from the store's own commits, so every instance
// applies the same rules from the log alone, and a restart rebuilds them.
// The saved index of [WithIndexDir] carries them (format 2); a file of
// format 1, written by a version that took markers for plain events, is
// not used: the store builds from the topic once, says why in its log,
// and saves format 2 at Close. A check that refuses an append because of
// the lifecycle rules (deleted, no stream, a truncation point beyond the
// stream) is repeated after a catch-up like a failed version check, since
// a recreation or more events may be newer than the index. ReadStream of
// a truncated stream fetches only the records from the truncation point
// on: truncation bounds the cost of loads as a snapshot does.
//
// # Reads
//
// ReadStream catches the stream's partition up (to the high watermark as of
// the call, waiting up to 2s for open transactions, or
// not at all in a blocked partition, see Failure modes, so
// every append acknowledged before it is included, also on a real broker
// where commit markers land a moment after the commit returned), then
// fetches exactly the offsets the index holds for the stream, one record
// batch per fetch, up to 8 fetches at a time, and checks every record's key and version: its cost
// depends on the stream's own events, not on the partition's size. Where
// the stream's next events lie close together (a long stream written one
// event per command), it fetches 1 MiB at a time instead, through the
// raw fetcher of the build (read_uncommitted, as the offsets come from the
// index): only the batches that hold the stream's offsets are
// decompressed and only its records decoded (rawfetch.BatchesWanted);
// with another SASL mechanism, or batches it does not parse, through
// sarama. The
// records of streams the store appended or read last are kept in a cache
// by offset ([WithReadCache], 16 MiB by default), so the next load of the
// same aggregate fetches none of them: it costs the catch-up only (on a
// real broker about 1 ms instead of 3.5–4 ms for a 10-event stream written
// one event per command). Only committed records enter the cache, and an
// offset holds one record forever, so the cache serves exactly what a
// fetch would.
// ReadStream never returns a short stream as if it were complete: when the
// catch-up cannot reach the last stable offset (the leader does not answer
// for 2s), or transactions open at the start stay undecided and the
// undecided range holds a record of the stream that the index lacks (a
// record of the open transaction itself, or a committed one behind it),
// it fails with [eventstore.ErrUnavailable]; retry later (the repository's
// Load does). The store's own acknowledged appends are in its index as
// soon as their commit returns, so a read after them includes them
// whatever the markers do. An acknowledged commit of another store
// instance can stay invisible to read_committed readers for as long as
// Kafka does not write its markers: seen for the whole 15s a broker was
// SIGSTOPped (the markers are written only when the paused leader answers
// again). Such a read then fails with ErrUnavailable rather than miss it,
// and so do appends to the stream (they conflict with the undecided
// records). ReadAll
// and Subscribe read with read_committed isolation, each partition in offset
// order; positions are Kafka partition/offset pairs, so a
// [eventstore.Checkpoint] is a consumer position per partition. Consumers
// that read the topic themselves (consumer groups, other languages) must
// use read_committed isolation too; [DecodeMessage] decodes their records.
//
// # Foreign and malformed records
//
// A record that is not a valid kafkaes event (no es.version header, a bad
// header, a version out of place, a record of another producer) never
// panics the store and never stops it: the index skips it and remembers it
// for its stream (by key). ReadStream of that stream yields the events
// before it, then a [*CorruptRecordError] naming topic, partition and offset
// (matching [eventstore.ErrCorruptLog]). ReadAll and Subscribe yield such an
// error where they meet the record, with the record's position (and the
// decoded event, for an event out of place in its stream: the index judges
// every record against the stream's events before it), and go on with the
// next record if the caller keeps iterating. Appends to other streams carry
// on; appends to the corrupt stream are refused with the same error
// (nothing is written): its version is unknown, and writing after the bad
// record would bury it under more events. Repair such a stream by reading
// its valid events and writing them to a new stream.
//
// # Resources
//
// The store never closes the user's sarama client; it opens its own client
// for fetches, one per live subscription, and one for each transactional
// producer ([WithConcurrentTransactions]), all from copies of the client's
// configuration (protocol version raised to at least 2.5).
//
// The stream index lives in memory and is built at start by reading the
// whole topic once (build.go). The build does not fetch through sarama,
// whose decoding of fetch responses (an allocation per record and per
// header) was most of a start's CPU: it sends raw read_committed Fetch
// requests (version 10, leaders only, as internal/kafkafetch) through a
// franz-go client made from the sarama configuration's connection
// settings (internal/rawfetch: TLS, SASL PLAIN and SCRAM; with another
// SASL mechanism it reads through sarama as before) and walks the record
// batches itself (rawbuild.go, rawfetch.Batches, shared with
// kafkaprojection's filtered reader): every batch's CRC is checked, zstd
// batches are decompressed by pooled decoders into buffers reused once
// their records are indexed, control batches and the records of aborted
// transactions are dropped as the Java consumer drops them, and it stops
// at each partition's last stable offset, so the index holds only
// committed records, as before (TestRawBuild checks it against the sarama
// catch-up). Batches it does not parse itself (other codecs, old message
// formats) go to franz-go's parser. One fetcher per core reads a disjoint
// set of partitions and parses each record's headers for the index, and
// an indexer of its own inserts them into the indexes of those partitions
// while the next responses are fetched. The catch-ups after the build
// read through sarama. On a real broker [New] took 1.2-1.6x a plain
// franz-go read_committed read of the topic (1.2x when the machine was
// quiet, 2x on a heavily loaded one: it spends 1.3-1.7x the read's CPU,
// mostly inserting into the index, parsing and decompressing;
// BENCHMARKS.md) and holds, per stream, about 150 bytes plus 16 bytes per run of
// consecutive offsets (a stream written by interleaved writers has a run
// per event) plus 16 bytes per remembered event ID (the idempotency
// window; an ID is kept as the 16 bytes of its UUID, or of the SHA-256 of
// any other ID). BenchmarkStart measures both (BENCHMARKS.md): 200,000
// events in 40,000 streams take about 19 MiB. Memory and start time grow
// with the history: a store with 10 million streams needs gigabytes.
//
// With [WithIndexDir], Close saves the index to a file (written to a
// temporary file, synced, renamed: a crash leaves the old file or the new
// one), and the next New loads it and reads only the records appended
// since, instead of the whole topic: on a real broker, 1M events in 200k
// streams plus 1,000 new ones start in 55–150 ms instead of the
// 0.6–0.8 s of a fresh start (BenchmarkStart/restart; the range is the
// load of the shared machine it ran on). The file holds only committed events below
// each partition's saved offset, so any older file is a valid prefix of
// the log; New trusts it only after checking that the log still extends
// it: same cluster ID, same topic ID (a topic deleted and re-created gets
// a new one), same partition count, every partition's log start at or
// below the saved offset and its high watermark at or above it (a log
// truncated by an unclean leader election fails this), and an intact
// CRC-32C. Otherwise it logs the reason and builds from the topic. This
// is the restart half of what Kafka Streams does with its local state
// stores (a checkpoint of the offsets the local state covers, then
// restore from the log past it); without [WithDiskIndex] the index
// itself stays in memory.
//
// With [WithDiskIndex] as well (usually WithDiskIndex(pebbleindex.Open,
// 0), package eventstore/kafka/pebbleindex, so that only programs that
// use it link pebble), the index itself lives on disk (Kafka Streams
// keeps its state in RocksDB, KurrentDB its stream index in on-disk
// tables): the streams are entries of a pebble database in the index
// directory, and memory holds a bounded cache of them
// ([DefaultDiskIndexCache], 100,000 streams) plus those changed since
// the index last wrote (at most a quarter of the cache per partition):
// memory is bounded by the cache size, not by the number of streams.
// The index writes the changed streams with the partition's checkpoint
// (the offset it covers) in one atomic pebble batch, at moments when the
// index's invariants hold, so the database always holds the index of a
// prefix of the log and nothing uncommitted; a crash leaves the database
// of an earlier write (pebble's log recovers a prefix of its batches),
// which the next start checks against the log as it checks the file and
// catches up from. A damaged database, a changed topic or cluster, a
// moved log start, a truncated log or a changed partition count make the
// start empty it and build from the topic, saying why in its log; a
// damaged entry found later stops the index of its partition (appends
// and reads there fail with [eventstore.ErrUnavailable]; restart the
// store, which rebuilds). Each store needs an index directory of its own
// (the database is locked while open). The in-memory partIndex and the
// disk index share their logic (index.go); only where the streams are
// kept differs (diskindex.go). TestConformanceDiskIndex runs the whole
// conformance suite with a cache of 8 streams, and the restart, distrust
// and kill tests of the index file run against the disk index too.
//
// What it costs and saves (BenchmarkStart on the embedded broker, 1M
// events in 200k streams of 5 events written round-robin, and 5M in 1M
// streams, one run each; BENCHMARKS.md): the live heap after a restart is
// 4.5-5.9 MiB at 200k streams and 3.6 MiB at 1M, instead of 58 and 281
// MiB in memory; after a fresh start 48 and 53 MiB (the full cache)
// instead of 70 and 321 MiB (pebble's block cache, 32 MiB outside the Go
// heap, comes on top). A restart with 1,000 new events took 62 ms against
// 425 ms in memory in the same run at 200k streams, 195 ms against 1.9 s
// at 1M; since the build database (below), 16.7 ms on a real broker at
// 1M events against a fresh in-memory start of 456-492 ms (0.034-0.037x),
// 29-30 ms at 5M against 2.6-2.7 s (0.011x). A fresh start on an empty (or distrusted) index directory does
// not go through the cache: applied one record at a time it read almost
// every record's stream from pebble (the streams' events lie farther
// apart than the cache reaches; a point read of 5-10 us against a map
// lookup) and took 4-11x the in-memory build. Instead it is a bulk load
// (diskbulk.go): each keyed record of the build is written, without
// reading anything, as a build entry keyed by partition, stream and
// offset and holding the parsed record (version, ID key, marker, or why
// it is not an event; about 25 bytes), into a build database of its own
// beside the index (<topic>.kafkaes-pebble-build); after the build each
// partition's build entries are read back in key order, one stream at a
// time, applied to a new stream state by the same code as the catch-up
// (applyRecord), and written as stream entries into the index, then the
// partition's checkpoint. The build database is then removed as files:
// deleting the entries from the index database instead (one range
// deletion) left a compaction of the whole index that the next start's
// open waited for (80-100 ms of a 10 ms restart). Crash
// safety: the reset that empties the database writes the key "f" (a
// fresh build is under way), synced, with the log's identity before
// anything else; only after every partition is folded and checkpointed
// is "f" cleared, synced, and the build database removed (a start removes
// one a crash left). A start that
// finds "f" set distrusts the database ("holds a fresh build that did
// not finish"), empties it and builds again, so the entries of a build
// or fold cut short are never used, whatever prefix of them pebble kept;
// TestDiskFreshBuildCrash cuts a build after every few of its database
// writes and checks that the next start says so and builds the index a
// store without an index directory builds. In one run on the embedded
// broker (1M events, 200k streams) the fresh start took 1.9x the
// in-memory one (7.45 s against 3.9 s, 15-20 MiB of heap against 70);
// the read-modify-write build it replaces, run just after on the same
// machine, took 5.8x (17.5 s against 3.0 s, 48 MiB). The goal of 1.5x
// is not met yet (BENCHMARKS.md). Reads and appends of
// streams not in the cache cost one point read each, a few per cent of
// an append's broker round trips.
//
// What bounds the heap today is per-stream structure, not event IDs:
// BenchmarkStart on the embedded broker, 1M events in 200k streams of 5
// events, holds 70 MiB after a fresh start (about 350 bytes a stream:
// the 80-byte stream state, its map entry and ID string, a 16-byte run
// per interleaved event, a ring of 16-byte ID keys) and 58 MiB after a
// restart from the saved file. Event IDs are already 16-byte keys and
// runs need no allocation of their own per event; only keeping the
// entries off the heap bounds it by a cache size.
//
// The disk index is on pebble (github.com/cockroachdb/pebble/v2), not
// bbolt (go.etcd.io/bbolt).
// BenchmarkIndexStore (eventstore/kafka/internal/kvbench) measures the
// index's access shape on both, 200k entries of 100 bytes, one run on 2
// shared cores (BENCHMARKS.md has the table):
//
//   - batched writes of new entries, 1,000 per batch with a checkpoint
//     key, as a fresh start writes them: pebble 1.8-2.4 us an entry,
//     bbolt 15.7-19 us (a B+tree insert at a random place, copy-on-write
//     pages, and an fsync per transaction, without which bbolt is not
//     crash-safe; 8.2-11.7 us without it). A fresh start of 1M streams
//     would spend 16-19 s in bbolt alone, against a read of the topic of
//     about 2.5 s: bbolt cannot meet the start-time goal;
//   - random point reads (an append or a load of a stream not in the
//     index's cache): bbolt 1.6-2.5 us (a memory-mapped file; its pages
//     count against the process's memory as page cache), pebble 10.5-12
//     us with its default 8 MiB block cache and 3.2-4 us with a block
//     cache larger than the data. Against an append's three broker round
//     trips (about 130 us on the embedded broker, 300 us and more on a
//     real one) a miss costs a few per cent either way;
//   - a catch-up's read-modify-write of a random stream, batched: about
//     17 us in both with 8 MiB of block cache (7.4-9 us for pebble with
//     64 MiB).
//
// pebble's batch commit without fsync is atomic and its write-ahead log
// recovers to a prefix of the committed batches, so the index commits its
// changed entries with the partition's checkpoint in one batch without
// paying an fsync, and a crash leaves a consistent older checkpoint
// (which the catch-up continues from, as from an older index file). Its
// block cache is allocated outside the Go heap and is bounded by its size.
//
// # Secured clusters
//
// The store's own connections carry the client's TLS and SASL settings. It
// needs Read, Write and DescribeConfigs on the events topic and Write on
// the TransactionalId resources with the PREFIXED pattern
// [TransactionalIDACLPrefix](topic) (or the prefix given to
// [WithTransactionalIDPrefix]), plus Create with [WithCreateTopic]. A
// denied request is never retried: New or the append fails at once with an
// [*AuthorizationError] that matches [ErrNotAuthorized] and the broker's
// error code and carries the kafka-acls.sh command that allows it.
// docs/security.md has the whole set-up.
// # How appends work: the conflict scan
//
// Kafka has no conditional append. The store builds one from Kafka
// transactions and a per-partition index:
//
//   - The index maps every stream of a partition to its version, the
//     offsets of its events and its latest event IDs. It is built at start by
//     reading the whole topic with read_committed isolation (raw fetches up
//     to the last stable offset, dropping aborted records with the
//     response's aborted-transaction list), and kept up to date from X, the
//     first offset not yet indexed: by catch-up fetches, by the conflict scan
//     (below), and by recording the store's own commits as soon as they
//     succeed. Invariant: every committed event below X is in the index, and
//     the index holds nothing that is not committed.
//   - An append is checked against the index (expected version, idempotent
//     repeat). A failed check is repeated after catching up to the high
//     watermark (waiting at most 100ms for transactions open in the
//     partition), so a stale index does not fail an append that is valid.
//   - The events are produced in a transaction (idempotent producer,
//     acks=all). The produce response gives o1, the offset of the append's
//     first event.
//   - The conflict scan fetches [X, o1) of the partition with
//     read_uncommitted isolation, X taken at the check. If a record there
//     has the stream's key and is neither an event the index already counted
//     (the store's own earlier commit, whose markers may not have landed
//     yet) nor followed, before o1, by an abort marker of its producer, the
//     transaction is aborted and the append fails with a conflict (after
//     re-checking on the index, which the scan has just advanced: when the
//     expectation still holds, the append is retried after a short pause
//     instead, so an aborted transaction of another writer, or one that is
//     about to end, does not fail it). Otherwise the transaction commits.
//
// In the code, a worker runs these as steps, one method each (process.go
// for a group commit, multi.go for a multi-stream append): check, write,
// scan, commit, and report (the store's own commits recorded in the index
// before their callers are told). The index does every check and update
// under its own lock (streamIndex, index.go); the catch-up is in
// catchup.go, the conflict scan in scan.go.
//
// # Why it is sound
//
// Requirement 1 (any number of writers, no routing): nothing above needs a
// partition owner; every instance runs the same protocol against the log.
//
// Requirement 2 (no duplicate or missing version for read_committed
// readers). Take two appends A and B to the same stream that both commit,
// with first offsets a1 < b1. B's produce was acknowledged with acks=all, so
// the high watermark had passed b1, hence a1: A's records were fetchable
// with read_uncommitted when B scanned. Either a1 >= X_B, and B's scan met
// A's record: B only went on if its index already counted that record
// (then B's versions were assigned after A's) or an abort marker of A's
// producer followed it (then A did not commit, a contradiction). Or a1 <
// X_B: X only moves past records that are decided (below a last stable
// offset, or followed by their producer's marker within a scanned range),
// so A was decided and, being committed, counted in B's index. Either way B's version
// check saw A's events, so B's versions follow A's. By induction over the
// committed appends of a stream in offset order, each append's first version
// is one more than the number of committed events before it: versions are
// 1..n in offset order. Records of aborted transactions are never visible to
// read_committed readers.
//
// Requirement 3 (an append that returned nil is in the log exactly once; one
// that returned an error left nothing visible). Nil is returned only after
// CommitTxn succeeded; the records were written once (idempotent producer,
// one attempt per transaction; a retried append runs in a new transaction
// after the old one was aborted). A conflict or a check failure is returned
// after AbortTxn or before anything was produced. A caller whose context
// ends before the commit starts gets its context error and the transaction
// is aborted (other appends of the group are retried); once the commit has
// started, Append waits for its outcome. The one exception is a commit whose
// outcome Kafka does not report (the connection breaks during EndTxn, the
// coordinator refuses the commit, or the broker does not answer within the
// transaction timeout after the caller's deadline): Append then returns an
// error wrapping [ErrUnknownOutcome]; retry with the same event IDs, which
// the idempotency check turns into a no-op if the first attempt committed
// (also when the retry's conflict scan is the first to meet the committed
// events). Every other error means that nothing was written, with one
// rule that keeps this true: the store remembers (in memory, per stream
// and event IDs) every append whose outcome it reported as unknown, and a
// later append with any of those IDs that fails without proving the first
// attempt's fate returns [ErrUnknownOutcome] again. Proof is success (an
// idempotent repeat, or a write that the conflict scan allowed, which it
// does only when the first attempt's records are decided), a duplicate-ID
// error (the first attempt was written), or a conflict whose version check
// saw another event at the version the first attempt would have taken
// (versions are unique, so it was not written). A deadline, a broker still
// away, or a conflict with records still undecided prove nothing. A
// repeat in another store instance cannot know about the first attempt;
// its caller must keep treating the append as unknown. The "Append errors"
// section below lists every error. After such a
// commit the worker at once re-initialises its producer (InitProducerId with
// the same transactional ID), which makes the coordinator finish or abort
// the transaction, so a retry does not wait for the transaction timeout.
// All of this assumes that Kafka writes the markers of every transaction it
// decided; "Markers Kafka does not write" below says what the store does
// about a restarted coordinator that skips some.
//
// Requirement 4 (atomic multi-event appends): all events of an append, and
// of a group commit, are in one Kafka transaction, committed or aborted as
// a whole; read_committed readers see all of them or none.
//
// Failure modes. A writer that dies with a transaction open leaves records
// that read_committed readers never see; the broker aborts the transaction
// after the transaction timeout ([WithTransactionTimeout], 10s by default),
// and until then the last stable offset of its partitions stays behind it:
// read_committed readers see nothing of those partitions beyond it, and
// the index's catch-up offset X stops at its first record. A partition
// whose first undecided record stays undecided for 500ms counts as
// blocked. ReadStream waits up to 2s for open
// transactions (not at all in a blocked partition), then returns the
// stream if the undecided range holds no record of it that the index
// lacks, and fails with [eventstore.ErrUnavailable] otherwise (see Reads);
// ReadAll yields what lies before it and then fails with ErrUnavailable
// (it never ends quietly short of the end it started from). Appends to other partitions are
// not held up: the appends of a blocked partition, and every append whose
// conflict scan met undecided records three times, run in transactions of
// their own, so that their conflicts never abort the group commits of
// other partitions; appends that a conflict of another append of their
// group sent back are retried without losing an attempt; a worker never
// waits for a catch-up of a blocked partition that a read is doing, nor
// for its open transactions when a version check fails there (a conflict
// where the index holds more than expected is answered at once); and
// strong catch-ups (reads, failed checks) are bounded in total time, not
// only without progress (measured with BenchmarkDeadWriterBystanders: see
// BENCHMARKS.md). Appends to a stream the dead writer had written to see
// its open records in their scan and retry, then fail with a conflict if
// the records are still undecided after several attempts (about a quarter
// of a second), except appends with [eventstore.Any] (and multi-stream
// appends whose entries on such streams are all Any), which conflict with
// nothing: they wait for the records to be decided until their append
// timeout, then fail with [eventstore.ErrUnavailable]; appends to other
// streams of its partition go on. After a failed
// produce (for example a record too large) the transaction is aborted and
// the producer takes a new epoch (InitProducerId) before its next
// transaction, which resets its sequence numbers; a producer fenced by a
// newer instance with the same transactional ID, or whose abort failed, is
// closed and replaced. A broker that is down makes appends fail within
// [WithAppendTimeout].
//
// Faults on a replicated cluster. TestClusterFaults (package
// eventstore/kafka/clusterfault, run by CI on the 3-node cluster of
// scripts/kafka-cluster.sh: RF 3, min.insync.replicas=2) measured what each
// fault costs four writer processes appending with expected versions on a
// loaded 2-core machine (docs/faults.md has the table and the command).
// A SIGKILLed partition leader stops all appends for 4-14s (the
// controller fences it after the broker session, 9s stock; a group commit
// spans partitions), with a few ErrUnavailable and ErrUnknownOutcome
// errors. A SIGKILLed transaction coordinator stops its writers for
// 3-15s. A broker SIGSTOPped for 15s stops appends for about the whole
// pause, and commits acknowledged before it stay invisible to
// read_committed readers until it answers again (up to ~28s); ReadStream
// and ReadAll fail with ErrUnavailable then rather than return a short
// read (no short read in 40 runs since the fixes in docs/faults.md,
// Status).
// Two of three brokers down stop everything until they return; in-flight
// appends end with ErrUnknownOutcome and their retries with the same
// event IDs resolve them. A writer SIGKILLed with a transaction open holds
// the partitions it wrote to until the broker aborts it (transaction
// timeout plus the broker's abort sweep: 11-20s); appends to other
// partitions keep their rate. In every run no acknowledged append was lost
// or duplicated and every error was nil, a conflict, ErrUnavailable,
// ErrUnknownOutcome or the append timeout, each true to the log.
//
// Markers Kafka does not write. A transaction coordinator that restarts
// (or moves) while it ends a transaction skips the markers of partitions
// whose leader it does not know yet, assuming them deleted (Kafka's
// TransactionMarkerChannelManager; seen here on a single broker killed
// and restarted during appends). The records of that transaction then stay
// undecided until the same producer ID writes its next marker to the
// partition, and that marker decides them, whatever the coordinator had
// decided: a later commit would make records visible whose append had
// failed, and a later abort would drop events whose commit Kafka had
// acknowledged (the coordinator restarted in the milliseconds between
// acknowledging a commit and writing its markers). Two defences: (1) after
// any error that may come from a broker going away, and for a new producer,
// a worker first reads the partitions it is about to write, and every
// other partition its producers wrote to before, a process manager's
// positions topic included (a commit whose markers
// were skipped in a partition the next transaction does not write would
// otherwise be decided by whichever transaction writes there next, and
// aborted with it if it failed), and settles the
// records of its own producer ID that no marker follows, with an empty
// transaction (AddPartitionsToTxn, EndTxn, no data) whose marker is a
// commit for its last acknowledged commit and an abort for anything else.
// Once its partitions may be in such a transaction, a commit must not turn
// into an abort (the abort marker would drop the acknowledged records it
// settles): it is sent even when AddPartitionsToTxn failed, an EndTxn
// whose answer was lost is sent again with the same producer epoch (a
// repeated commit is answered with success), and a producer left with the
// commit pending commits it before InitProducerId, whose new epoch would
// abort it, also across a replacement and at Close
// (TestSettleCommitEndTxnFails, TestSettleCommitPendingAcrossInit; before,
// a lost EndTxn re-initialised the producer and that aborted the
// acknowledged records: a gap in a stream on CI's broker-restart test).
// Only the coordinator's own abort after the transaction timeout can still
// drop them, which is logged as an error
// (a worker with no appends to write does the same check within about a
// second of such an error, for the partitions it wrote to, so that an idle
// store does not leave a partition's last stable offset held, and every
// read_committed reader of it waiting, until its next append:
// TestSettleIdleWorker);
// (2) the conflict scan also looks for undecided records of its own
// producer ID before the transaction's records and aborts instead of
// committing when it finds some (they belong to appends that returned an
// error). Errors that trigger the settle check are store-wide: any failed
// fetch or coordinator request of the store, including network errors that
// a retry hid; when the transaction's own AddPartitionsToTxn met one, the
// transaction (still without records) is ended with the marker the check
// asks for before anything is written. When that check cannot read the
// partitions, the empty transaction stays open (neither marker is safe
// without the check) and the worker's next step, an append or the idle
// tick, checks again and ends it before the producer does anything else
// (TestSettleOpenCheckFails; before, the producer was replaced, and its
// InitProducerId aborted the transaction). Not covered: a broker restart
// that no request of the store noticed before the worker's next abort,
// and a check that keeps failing past the transaction timeout (the
// coordinator then aborts the open transaction).
// A new producer checks every partition of the topic, so a store that
// restarts with the same [WithTransactionalIDPrefix] (the same producer
// IDs) settles what its previous run left in the events topic (not in a
// positions topic, which it checks only for what it wrote itself). Records of a producer that
// never comes back hold read_committed readers of the partition back
// (`kafkaes topics hanging` lists them with the kafka-transactions.sh abort
// command that settles one by hand).
//
// # Group commit
//
// Concurrent appends are grouped: a dispatcher collects the queued appends
// (at most one per stream per group, so a store never races itself; up to
// [WithGroupCommit]'s event limit) into one transaction with one produce, one
// scan per partition and one commit, while the next group queues.
// Transactions are written by a small transactional producer of the store's
// own on sarama's protocol requests (InitProducerId, AddPartitionsToTxn,
// Produce, EndTxn): one AddPartitionsToTxn for all partitions of a group,
// then one Produce request per leader broker carrying one record batch per
// partition. (sarama's producer sends a transaction's first record alone
// and the rest in several more requests, each after its own
// AddPartitionsToTxn, as an idempotent producer has one request in flight
// and mutes a partition while its batch is in flight; on the embedded broker
// that was about 5 Produce and 2 AddPartitionsToTxn round trips for a group
// of 30 appends over 4 partitions, and half the throughput.) The scan
// range is read concurrently with the produce, and the scan also advances
// the index (every record it read that a marker in the range decided is
// indexed, and X moves to the first undecided one), so an uncontended append
// costs three round trips (AddPartitionsToTxn, Produce, EndTxn) and no
// separate catch-up. [WithConcurrentTransactions] runs several groups at
// once on separate producers (default 2): a second group starts only while
// the first is in flight and at least 32 appends are queued, and
// consecutive groups alternate producers, so a producer rarely waits for
// the broker to finish writing its previous transaction's markers (on a
// real broker that halved the latency of an uncontended append).
//
// # Multi-stream appends
//
// [Store.AppendMulti] ([eventstore.MultiAppender]) writes to several
// streams, on any partitions, in one Kafka transaction: read_committed
// readers see every entry or none. Each entry is checked against the index
// and covered by the conflict scan of its partition exactly as a single
// append is, and the unknown-outcome and idempotency rules are those of
// Append, for the whole append. A multi-stream append is not grouped with
// other appends: it gets a transaction of its own, so one failed entry
// fails or retries only it, and its cost is about one transaction
// (BENCHMARKS.md: a two-stream append takes 0.6x the time of two
// concurrent single appends).
//
// A condition-only entry ("stream C is still at version N", for a stream
// the decision read) has no record of ours to stop its scan at. Its scan
// reads C's partition up to the high watermark read after the produce of
// the transaction's records was acknowledged; a record of C there that the
// check did not count, committed or still open, is a conflict. Because
// every transaction reads its conditions' partitions only after its own
// records are in the log, of two transactions that each write what the
// other reads, at least one sees the other's record: write skew cannot
// happen (the argument is in multi.go; the conformance case
// MultiAppendWriteSkew fails when the condition scan is removed).
package kafka
