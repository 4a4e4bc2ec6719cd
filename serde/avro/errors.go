package avro

import (
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/serde"
)

var (
	// ErrNotFramed means a payload is not in the Confluent wire format:
	// it is shorter than 5 bytes or does not start with the magic byte 0x00.
	// Such a payload was not written by an Avro serde with a Schema
	// Registry; check the producer's serializer. It wraps
	// [serde.ErrMalformed].
	ErrNotFramed = fmt.Errorf("%w: not in the Confluent wire format", serde.ErrMalformed)
	// ErrUnknownSchemaID means the registry has no schema with the ID in a
	// payload: the payload was written against another registry, or the
	// schema was hard-deleted. Point the serde at the registry the producer
	// used.
	ErrUnknownSchemaID = errors.New("avro: unknown schema ID")
	// ErrRegistryUnavailable means the Schema Registry could not be reached
	// or kept failing after the configured retries. Check the URL, the
	// network and the registry's health; the call can be retried.
	ErrRegistryUnavailable = errors.New("avro: schema registry unavailable")
	// ErrSchemaNotRegistered means the serde runs in [UseRegisteredOnly]
	// mode and the schema of an event type is not registered under its
	// subject. Register it from your deployment pipeline (or use
	// [AutoRegister] in development).
	ErrSchemaNotRegistered = errors.New("avro: schema not registered")
	// ErrIncompatible means a schema change breaks the subject's
	// compatibility level. errors.As gives the [*IncompatibleError] with
	// the broken rule.
	ErrIncompatible = errors.New("avro: incompatible schema")
	// ErrRegistryUnauthorized means the Schema Registry refused a request
	// (HTTP 401: no or wrong credentials; HTTP 403: the credentials lack a
	// permission). The error names the operation, the subject and the
	// registry URL (its password redacted). Retrying does not help: fix the
	// credentials ([WithBasicAuth], [WithBearerToken]) or the registry's
	// permissions.
	ErrRegistryUnauthorized = errors.New("avro: schema registry refused the request")
)

// IncompatibleError describes a schema change that breaks a
// compatibility level. It matches [ErrIncompatible] with errors.Is.
type IncompatibleError struct {
	// Subject is the registry subject, if known.
	Subject string
	// Level is the compatibility level that was checked.
	Level Compatibility
	// Version is the index (1-based, oldest first) of the existing schema
	// the new one conflicts with, or 0 if unknown.
	Version int
	// Direction is "new schema reading old data" (backward) or "old schema
	// reading new data" (forward).
	Direction string
	// Path is where in the schema the rule broke ("AccountOpened.amount").
	Path string
	// Rule says which Avro resolution rule is broken.
	Rule string
}

// Error describes the broken rule and what to do.
func (e *IncompatibleError) Error() string {
	subj := ""
	if e.Subject != "" {
		subj = fmt.Sprintf(" for subject %q", e.Subject)
	}
	ver := ""
	if e.Version > 0 {
		ver = fmt.Sprintf(" with version %d", e.Version)
	}
	return fmt.Sprintf("avro: schema is not %s compatible%s%s (%s): at %s: %s; make the change compatible (add fields with defaults, do not change field types) or introduce a new event type with an upcaster",
		e.Level, ver, subj, e.Direction, e.Path, e.Rule)
}

// Is makes errors.Is(err, ErrIncompatible) true.
func (e *IncompatibleError) Is(target error) bool { return target == ErrIncompatible }

// DecodeError is returned by Unmarshal when a payload's bytes cannot be
// decoded (a poison record: retrying does not help). It wraps
// [serde.ErrMalformed] (and a more specific error such as [ErrNotFramed])
// and names what is known about the record, so an operator can find it.
// Registry failures are not DecodeErrors: they wrap
// [ErrRegistryUnavailable] or [ErrUnknownSchemaID] instead. Callers that know the record's Kafka position can
// add it with [WithRecordPosition].
type DecodeError struct {
	Type     string // event type name (es.type)
	SchemaID int    // writer schema ID, 0 if the frame was unreadable
	Topic    string // topic of the serde
	Pos      string // "partition 3 offset 1234" if known
	Err      error
}

// Error names the event type, schema ID, topic and position.
func (e *DecodeError) Error() string {
	where := "topic " + e.Topic
	if e.Pos != "" {
		where += " " + e.Pos
	}
	id := ""
	if e.SchemaID != 0 {
		id = fmt.Sprintf(" written with schema ID %d", e.SchemaID)
	}
	return fmt.Sprintf("avro: cannot decode %s event%s (%s): %v", e.Type, id, where, e.Err)
}

// Unwrap returns the cause and [serde.ErrMalformed].
func (e *DecodeError) Unwrap() []error {
	if errors.Is(e.Err, serde.ErrMalformed) {
		return []error{e.Err}
	}
	return []error{e.Err, serde.ErrMalformed}
}

// WithRecordPosition adds a Kafka position to a [*DecodeError] returned
// by Unmarshal, so the error names the record to inspect. Other errors
// are returned unchanged.
func WithRecordPosition(err error, partition int32, offset int64) error {
	var de *DecodeError
	if errors.As(err, &de) {
		c := *de
		c.Pos = fmt.Sprintf("partition %d offset %d", partition, offset)
		return &c
	}
	return err
}
