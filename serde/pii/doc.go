// Package pii encrypts personal data in events, field by field, with one
// key per data subject, so that erasing the key erases the data from an
// immutable log ("crypto-shredding"): the events stay, with their
// personal fields unreadable forever, while every other field and every
// other subject stays intact.
//
// # Marking fields
//
// A field holds personal data when it carries a `pii` struct tag naming the
// field, in the same struct, that holds the data subject's ID:
//
//	type PatientAdmitted struct {
//		pii.Redactable           // required: says which fields were redacted
//		PatientID string         // the data subject; stored in plaintext
//		Name      string `pii:"PatientID"`
//		Born      string `pii:"PatientID"` // a date as text: "1815-12-10"
//		Scan      []byte `pii:"PatientID"`
//		Ward      string           // not personal: plaintext
//	}
//
// The syntax is `pii:"SubjectField[,label=NAME]"`. Only string and []byte
// fields (also of named types) can be encrypted, because the ciphertext
// must live in the field itself so that the schema does not change its
// shape; a tag on any other type (time.Time, numbers), on a field of a
// nested struct, slice or map, or naming a subject field that is missing
// or not a string, is refused when the type is first checked (serde New,
// CheckType, or the first Marshal), never silently written in plaintext.
// Keep a date as text (t.Format(time.DateOnly)) in a tagged string field.
// Fields of structs embedded by value are fine. The subject field is never
// encrypted: it is how the key is found, so use an opaque ID (not an
// e-mail address). [Inspect] does the checking.
//
// The serdes encrypt only when given an [Encryptor]: serde.JSON.Encryptor
// and avro.WithEncryption. A serde without one refuses types with `pii`
// tags, so that forgetting the encryptor cannot leak plaintext.
//
// # Encryption and the envelope
//
// Each subject has one AES-256-GCM key from a [KeyStore] (GetOrCreate on
// encryption, so the first event of a subject creates its key). Every
// field is sealed on its own, with its own 96-bit nonce (see Nonces), into
// an envelope:
//
//	0x01 | key ID (8 bytes, big-endian) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// A []byte field holds the envelope as it is; a string field holds its
// text form, "pii:" followed by the envelope in unpadded base64url (RFC
// 4648 §5), so that JSON and Avro strings stay valid UTF-8. A field grows
// by [Overhead] = 37 bytes (binary), about 54 characters as text.
//
// The additional authenticated data binds each ciphertext to its place:
//
//	"kafkaes.pii" | envelope bytes 0-8 (version, key ID) | uvarint(len(subject)) | subject | uvarint(len(label)) | label
//
// where label is the Go field name unless the tag sets label=. So a
// ciphertext moved to another field, or to another subject (even one that
// a faulty key store gave the same key), fails to authenticate: an error,
// not data. Keep the label when renaming a field (`pii:"PatientID,label=OldName"`).
// The event type is not bound, so renamed types and upcasters keep working.
//
// Nonces: GCM must never reuse a nonce under one key. Encrypting one
// value (one event) reads 96 random bits N from crypto/rand; personal-data
// field number i of the type (from 0, in declaration order, counting
// empty ones) is sealed with the nonce N + i, that is N's first 4 bytes and
// then its last 8 bytes as a big-endian number plus i, modulo 2^64. The
// nonce is stored in each envelope, so readers do not depend on the rule
// (envelopes written with one random nonce per field, before 2026-12,
// read the same). Why nonces stay unique under a key:
//
//   - within one value, the nonces of fields i ≠ j differ in their last 8
//     bytes, since i, j < 2^64;
//   - across two values with independent uniform bases N and N' and at
//     most k personal-data fields each, N + i = N' + j requires equal
//     first 4 bytes and a difference of the last 8 bytes in (-k, k):
//     2k-1 of 2^96 equally likely cases, a chance of (2k-1)/2^96;
//   - over n values encrypted under one key that gives at most
//     n²(2k-1)/2^97, never more than the (nk)²/2^97 of one random nonce
//     per field (which is what NIST SP 800-38D §8.3 bounds by allowing
//     2^32 random nonces per key, a collision chance below 2^-32).
//
// A key here serves one person: a subject with a million events of ten
// personal fields stays below 10^12·19/2^97 ≈ 10^-16. Each value draws its
// own base from crypto/rand, so no state is shared between processes, and
// a cloned process or VM does not repeat nonces as a stored counter would.
//
// What is not hidden: the subject ID, which fields are set (empty values
// stay empty, unencrypted), and the length of each value (GCM keeps
// lengths). Pad values yourself if their length says too much.
//
// # Decoding and redaction
//
// Decoding asks the key store for the subject's key (Get, with the key ID
// from the envelope). Then:
//
//   - key found with that ID: the field is decrypted;
//   - no key ([ErrKeyNotFound]: erased, or never created) or a key with
//     another ID (the subject was erased and has a new key since): the
//     field gets its zero value ("" or nil) and its Go name is recorded in
//     the value's embedded [Redactable], read with [Redacted] or
//     [IsRedacted]. The decode succeeds: an erased subject never stops a
//     load, a projection or a replay. This works the same for values
//     handed to aggregate Apply methods, projection handlers and snapshot
//     states, because the serde decrypts before any of them sees the value;
//   - the ciphertext does not authenticate (tampered, moved, wrong key):
//     an error matching [ErrDecrypt] (and serde.ErrMalformed), naming the
//     subject and field: it is not an erasure;
//   - the key store fails otherwise (unreachable): that error is returned,
//     so that an outage is retried instead of being taken for an erasure;
//   - an empty value, or a string without the "pii:" prefix (a value
//     written before the field was tagged), is left as it is; `kafkaes
//     verify` reports such plaintext.
//
// Upcasters (serde.Upcasters) that work on generic values see the envelope
// text of encrypted fields, not plaintext; pass such fields through
// unchanged (the label binds each ciphertext to its field), and the
// conversion to the current Go type decrypts them.
//
// # Cost
//
// Types without `pii` tags pay nothing: the serdes decide once per type.
// For a type with tags, encryption is one crypto/rand read, one GCM Seal
// per non-empty field and the base64url text form; decryption is one
// GCM Open per field. [Encryptor.Seal] makes the wire forms without
// copying the value (the Avro serde's direct encoder writes them into its
// output), [Encryptor.DecryptFields] decrypts from wire forms a decoder
// kept aside (the Avro serde's direct decoder passes slices of its
// input); [Encryptor.Encrypt] and [Encryptor.Decrypt] work on Go values
// (the JSON serde and the Avro serde's goavro paths). Key lookups hit the
// key store's cache. BENCHMARKS.md has the numbers, and the floor the
// cipher sets.
//
// # Key stores
//
// [KeyStore] is small so that keys can live in a KMS or vault. [Memory]
// is for tests. The default for services is
// [github.com/kafkaes/kafkaes/serde/pii/kafkakeys]: keys in a compacted
// Kafka topic, one record per subject, a tombstone on erasure.
package pii
