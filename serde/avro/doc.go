// Package avro is a [serde.Serde] that stores events as Avro through a
// Confluent-compatible Schema Registry, so that consumers in any language
// can read them and schemas can evolve safely for years.
//
// # Wire format
//
// Every value is framed the Confluent way: magic byte 0x00, the writer
// schema's registry ID as 4 bytes big-endian, then the Avro binary
// encoding. Any Confluent deserializer (Java, Python, Go) can decode it.
//
// github.com/linkedin/goavro/v2 validates and parses every schema, encodes
// where a default must be filled in, and decodes what the direct decoder
// leaves to it. Marshal otherwise writes Avro binary directly from the
// compiled plan: building goavro's native map first costs as much as
// goavro's encoding itself. Likewise Unmarshal reads Avro binary straight
// into the Go value, instead of goavro's native map followed by a
// conversion, when the writer's schema has the reader's shape or differs
// only by added, removed, renamed or reordered record fields (the usual
// cases); decimals, goavro's other logical types (time-millis, ...),
// recursive schemas and other resolution (promotions, changed enums or
// unions) stay on the goavro path. Tests check that both
// encoders write the same bytes (thousands of random values) and that
// fastavro reads them, and that both decoders accept and reject the same
// bytes and return the same values (random values, corrupted bodies,
// FuzzDirectDecode); [WithGoavroEncoding] and [WithGoavroDecoding] switch
// the direct paths off.
//
// # Names
//
// The event type name (the es.type header) of an Avro event is the full
// name of its record. Register Go types under their Avro full name:
//
//	serde.MustRegister[AccountOpened](reg, "bank.AccountOpened")
//
// The derived schema is then a record named AccountOpened in namespace
// bank; nested structs and enums become named types in the same
// namespace. A name that is not a valid Avro full name ("bank.opened-v1")
// is rejected with an error that says so. With [WithSchema] the record
// name in the .avsc must equal the registered name.
//
// # Go types and schemas
//
// A schema is either given as .avsc text ([WithSchema]) or derived from the
// Go type ([DeriveSchema] documents the mapping: field names or `avro`
// tags, pointers as nullable unions, int64, time.Time as
// timestamp-millis/micros, [16]byte as uuid, *big.Rat as decimal for money,
// [Enumerated] string types as enums, slices, maps and nested records).
//
// Embedded structs are flattened as encoding/json flattens them: their
// exported fields become fields of the record (an unexported embedded
// struct type promotes its exported fields too), `avro:"-"` skips an
// embedded struct and `avro:"name"` makes it a nested record field, the
// shallowest field wins a name clash and, at equal depth, the one named by
// a tag. An embedded struct without exported fields adds nothing, so an
// aggregate that embeds aggregate.Root can be its own snapshot state. Two
// differences from encoding/json, both because silence would lose data: a
// clash at equal depth without a deciding tag is an error (encoding/json
// drops both fields), and an embedded pointer to a struct with exported
// fields is rejected (embed it by value or name the field).
// Money: use *big.Rat with a decimal schema (default precision 18, scale
// 2) — values with more fraction digits than the scale are rejected, never
// rounded — or an int64 of minor units (cents), which needs no logical type.
// The mapping between the Go type and a schema is compiled once per
// (type, schema) pair into a plan of closures; per event only the plan
// runs.
//
// # Subjects and modes
//
// Subjects follow a [SubjectStrategy]: [TopicRecordName] (default; one
// topic holds many event types), [TopicName] or [RecordName]. The [Mode]
// says how Marshal finds the schema ID: [AutoRegister] (default, for
// development: register on first use after a local compatibility check),
// [UseRegisteredOnly] (production: fail fast with
// [ErrSchemaNotRegistered]) or [UseLatest] (write with the subject's
// latest schema, cached for [WithLatestTTL]). [Serde.Prepare] does this
// for every registered type at start-up, so a missing schema stops the
// service before it takes traffic.
//
// # Schema evolution
//
// Unmarshal decodes with the writer's schema (fetched once by ID) and
// resolves the value to the reader's current schema per the Avro
// specification: added fields take their defaults, removed fields are
// skipped, int→long→float→double and string↔bytes are promoted, unknown
// enum symbols take the enum default, union branches are matched. goavro
// does not resolve schemas; this package does, with a resolver compiled
// once per (writer schema ID, Go type). A renamed type or field keeps its
// old name as an alias (in the .avsc, or with [Aliased] for derived
// schemas; fields with `aliases` in the .avsc): Unmarshal accepts the old
// type name (es.type) and decodes it as the renamed type. Changes that
// resolution cannot express (an event split in two, a changed meaning)
// are handled by upcasters, see [serde.Upcasters] and Serde.UnmarshalGeneric.
//
// [CheckCompatibility] implements the registry's BACKWARD, FORWARD, FULL
// and *_TRANSITIVE checks. AutoRegister runs it before registering a new
// version, since not every registry enforces compatibility (srfake does
// not). For event streams use FULL_TRANSITIVE: events are kept forever
// and replayed from the start, and during a rolling deploy old and new
// code read each other's events.
//
// The level checked is the registry's for the subject (its own, else the
// registry's global level; BACKWARD, the Confluent default, when the
// registry has neither), not FULL_TRANSITIVE, although that is the
// advice: the registry is where an organisation sets its compatibility
// policy for every producer of a subject, kafkaes or not, and a library
// that silently enforced another level would refuse what the registry
// accepts (or the reverse) and surprise the operator. So set the advice
// where it belongs, on the registry (PUT /config/<subject> with
// {"compatibility": "FULL_TRANSITIVE"}, or the global /config), or pin it
// in code with [WithCompatibility](FullTransitive); `kafkaes schema check
// --level FULL_TRANSITIVE` checks a new schema against it in CI.
//
// # Registry access
//
// The serde talks to the registry through srclient
// (github.com/riferrei/srclient) with a context deadline per call,
// retries with exponential backoff and jitter ([WithRetry]), and its own
// caches: type → schema ID (forever; with UseLatest for the TTL), schema
// ID → parsed schema and goavro codec (forever; IDs are immutable), and
// (schema ID, Go type) → resolver. srclient's Schema.Codec is never used
// (it is racy and nil for schemas with references) and its caches are
// disabled by [NewClient] (its latest-version cache never expires).
// srclient calls take no context, so a cancelled call stops waiting at
// once while the HTTP request ends at the client's timeout.
//
// [NewClient] takes [WithTLSConfig], [WithBasicAuth] and [WithBearerToken];
// credentials in the URL are moved into basic auth. Every registry URL in
// an error is redacted ([RedactURL]: user:xxxxx@), so a password never
// reaches a log; a 401 or 403 answer gives [ErrRegistryUnauthorized] with
// the operation, the subject and what to do (docs/security.md).
//
// # Personal data
//
// Fields tagged `pii:"SubjectField"` (package
// [github.com/kafkaes/kafkaes/serde/pii]) are encrypted per data subject
// by the encryptor given with [WithEncryption] before encoding, and
// decrypted (or redacted, when the subject was erased) after decoding; [New]
// refuses such types without an encryptor. The schema keeps the field's
// type, string or bytes (a tag on any other type is refused), and a
// derived schema marks the field with the property "kafkaes.pii":
// {"subject": "<Avro name of the subject field>", "label": "<label>"}
// ([PIIProperty]), which registries keep and Avro readers ignore; readers
// without the key see the "pii:..." envelope text, never plaintext.
// docs/wire-format.md describes the envelope. On the direct paths the
// encoder writes the envelopes where the plaintext would go (the value is
// not copied) and the decoder decrypts from its input bytes (no envelope
// becomes a Go string); the goavro paths, and reads that need schema
// resolution, encrypt a copy and decrypt the decoded value. The bytes are
// the same either way.
//
// # Untrusted bytes
//
// Payloads are checked before they are decoded (by goavro or directly): each block count must fit
// in the bytes that remain, zero-size items are limited by
// [WithMaxItems], and every length is checked. This replaces lowering
// goavro.MaxBlockCount and goavro.MaxBlockSize, which are package
// variables shared by the whole process; this package never writes them.
// The decoders are fuzzed (FuzzUnmarshal, FuzzResolve, FuzzDirectDecode).
package avro
