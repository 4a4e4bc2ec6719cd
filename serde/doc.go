// Package serde turns Go event values into bytes and back.
//
// A [Registry] maps each Go event type to a stable name, chosen by you and
// written into every stored event ("bank.AccountOpened", not a name derived
// by reflection that would change when a package is moved or renamed). A
// [Serde] encodes registered values and decodes bytes back into values of
// the registered type. [JSON] is a serde for development and tests that
// keeps int64 values exact; package [github.com/kafkaes/kafkaes/serde/avro]
// stores Avro through a Schema Registry.
//
// Fields tagged `pii:"SubjectField"` hold personal data: [JSON] encrypts
// them per data subject when its Encryptor is set, and refuses such types
// when it is not. See package [github.com/kafkaes/kafkaes/serde/pii].
//
// Registries are built once at start-up and then only read; they hold no
// package-level state, so two services in one process can use different
// names for the same types.
package serde
