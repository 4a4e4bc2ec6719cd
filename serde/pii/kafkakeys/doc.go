// Package kafkakeys is the default [pii.KeyStore]: data subjects' keys in
// a compacted Kafka topic of their own, written with sarama.
//
// # Topic and records
//
// One record per key: key = the subject ID (UTF-8), value = 0x01, the key
// ID (8 bytes, big-endian), the 32-byte AES-256 secret (41 bytes in all);
// with [WithKeyEncryptionKey], 0x02, the key ID, a 12-byte random nonce
// and the secret sealed with AES-256-GCM under the key-encryption key
// (additional data "kafkaes.pii.key", the first 9 bytes of the value, the
// subject ID), 69 bytes in all. A key record that the store cannot read
// (wrapped under another key-encryption key, corrupt) makes the subject's
// fields fail to decrypt with an error; it is never taken for an erasure.
// [Store.Erase] writes a tombstone (null value) for the subject, with a
// header pii.key.id naming the erased key's ID (16 hex digits) when known;
// compaction then deletes the key, which shreds every field encrypted with
// it. Records are placed by murmur2 of the subject, like the Java client.
//
// [New] creates a missing topic with one partition, replication factor
// min(3, brokers) and cleanup.policy=compact, max.compaction.lag.ms=1 day
// (so that an erased key leaves the disk within about a day: the broker
// rolls and cleans the segment that holds it), delete.retention.ms=1 day
// and min.compaction.lag.ms=0. It refuses an existing topic whose
// cleanup.policy is anything but "compact": with "delete" (Kafka's
// default) or "compact,delete" the broker would expire keys after the
// retention time, which would make every subject's data unreadable, an
// erasure nobody asked for. The values are keys in the clear: restrict
// the topic with ACLs (Read and Write for the services that encrypt, no
// one else), as you would a KMS, or wrap them with a key-encryption key
// from your KMS ([WithKeyEncryptionKey]). Erasure takes effect on disk only when
// the cleaner has run, and on replicas and backups of the topic only when
// they are cleaned too.
//
// # One key per subject
//
// Two instances may encrypt the first event of the same subject at the
// same moment; they must end with one key, or one of them would encrypt
// with a key that is later lost. GetOrCreate, when the index has no key:
//
//  1. reads the topic (read committed) up to the last stable offset and
//     looks again; then, holding the index lock, notes X, the next offset
//     the index has not read (every committed record below X is indexed);
//  2. begins a transaction and writes a candidate key; o is its offset;
//  3. reads [X, o) of the partition read uncommitted. If a candidate for
//     the same subject is there (not followed by a tombstone), it aborts
//     its own, waits until the index has read past that candidate (its
//     transaction ended), and starts again: if the candidate committed,
//     step 1 finds it; if it aborted, a new round begins. Otherwise it
//     commits, and its key is the subject's key.
//
// Why it holds: records are acknowledged with acks=all only when the
// high watermark has passed them, so when a writer scans, every candidate
// at a lower offset is visible to its read-uncommitted fetch. Of two
// overlapping candidates, the one at the higher offset sees the other and
// aborts; the lower one cannot see the higher one and commits (unless it
// meets an even lower one). A candidate below X was already decided when
// the index read it: committed, it is in the index and step 1 returns it;
// aborted, it does not matter. So at most one candidate per subject is
// committed between two tombstones, and compaction, which keeps the last
// committed record of a key and drops aborted ones, keeps that one.
// TestConcurrentFirstKeysAgree races two instances over many subjects and
// checks the committed log; it fails when the scan is switched off.
//
// The issue asked for the key to be "written transactionally with the
// first event that needs it". It is instead committed before GetOrCreate
// returns, that is before the serde hands the encrypted event to the event
// store: an event can then never reference a key that was not stored, and
// the key topic needs no transaction shared with the events topic (which
// the event store's own transactions and a user's KMS could not offer). If
// the append of the event then fails, the key stays, unused: harmless, it
// will serve the subject's next event, and erasing the subject deletes it
// like any other.
//
// # Reading keys: index, cache, other instances
//
// New reads the whole topic once and keeps an index of every subject:
// where its latest key record is and its key ID, or that it was erased
// (and which key ID was erased). That costs about 100 bytes plus the
// subject ID's length per subject (about 120 MB for a million subjects
// with 20-byte IDs). The secrets themselves are kept only for the
// [WithCacheSize] most recently used subjects (default [DefaultCacheSize]
// = 10,000, about 200 bytes each with the LRU bookkeeping: 2 MB); a key
// that is not cached is read from the topic with one fetch at its indexed
// offset. The latest record of a subject is never compacted away (only
// records that a later one of the same subject replaces are), so that
// offset stays valid; if it is gone anyway, the store reads the topic
// forward and looks again.
//
// The store reads the topic for records of other instances every
// [WithRefreshInterval] (1s by default): a subject erased by another
// instance is seen as erased within about that time. A decode that meets
// a key ID the index does not know (a key another instance created a
// moment ago, whose event was read before this store polled) reads the
// topic up to its high watermark as of the call, waiting for open
// transactions to end, before it answers: a key committed before its event
// was written is therefore always found, and a live subject is never
// redacted by a slow poll. An ID found absent that way, and every erased
// ID, is remembered (IDs are random and never reused), so that replaying
// the events of an erased subject costs no I/O after the first.
//
// # Producer
//
// Keys are written by a transactional sarama producer on a client of the
// store's own, made from the configuration and brokers of the client given
// to New (so TLS and SASL settings carry over). Its transactional ID is
// "<key topic>.kafkaes-<random>" unless [WithTransactionalID] sets one; the principal
// needs Write on that transactional ID and on the topic, Read and Describe
// on the topic, Create on it (or the cluster) to create it, and
// DescribeConfigs to check it.
package kafkakeys
