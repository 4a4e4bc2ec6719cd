package pii

import (
	"context"
	"time"
)

// SubjectErasedName is the type name to register [SubjectErased] under:
//
//	serde.MustRegister[pii.SubjectErased](reg, pii.SubjectErasedName)
//
// It is a valid Avro full name, so the Avro serde derives its schema.
const SubjectErasedName = "kafkaes.pii.SubjectErased"

// SubjectErased is the erasure notice that package
// [github.com/kafkaes/kafkaes/serde/pii/erasure] appends to the event
// store after erasing a subject's key, so that projections (and, if the
// notice goes to the subject's own stream, aggregates) learn of the
// erasure in the log, like any event, and scrub the personal data they
// copied into their own views. Handle it idempotently: an erasure that is
// retried appends it again.
type SubjectErased struct {
	// Subject is the erased data subject's ID.
	Subject string `json:"subject" avro:"subject"`
	// ErasedAt is when the key was erased (UTC).
	ErasedAt time.Time `json:"erasedAt" avro:"erasedAt"`
}

// Syncer is implemented by key stores that learn of other processes'
// erasures with a delay (the Kafka key store polls its topic): Sync
// returns once every erasure made before the call is known to the store.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Sync calls keys.Sync if keys is a [Syncer], and does nothing otherwise.
// A projection's SubjectErased handler calls it before scrubbing its view,
// so that the projection's decoder no longer decrypts that subject's
// fields in events it handles after the notice (see package erasure).
func Sync(ctx context.Context, keys KeyStore) error {
	if s, ok := keys.(Syncer); ok {
		return s.Sync(ctx)
	}
	return nil
}
