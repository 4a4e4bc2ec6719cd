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
// field is sealed on its own, with a fresh random 96-bit nonce from
// crypto/rand, into an envelope:
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
// Nonces: GCM must never reuse a nonce under one key. With random 96-bit
// nonces, NIST SP 800-38D (§8.3) allows 2^32 encryptions per key, which
// keeps the chance of any repetition below 2^-32. A key here serves one
// person: even a subject with a million events of ten personal fields
// (10^7 encryptions) is 400 times below that limit, where the chance of a
// collision is about n²/2^97 ≈ 10^-15. A counter would need state shared
// by every process that writes the subject's events; random nonces need
// none.
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
// For a type with tags, Marshal copies the value once (the caller's value
// is never changed), reads one nonce per field from crypto/rand in one
// call, and seals each field; Unmarshal opens each field. Key lookups hit
// the key store's cache. BENCHMARKS.md has the numbers.
//
// # Key stores
//
// [KeyStore] is small so that keys can live in a KMS or vault. [Memory]
// is for tests. The default for services is
// [github.com/kafkaes/kafkaes/serde/pii/kafkakeys]: keys in a compacted
// Kafka topic, one record per subject, a tombstone on erasure.
package pii
