// Package erasure erases a data subject: it deletes the subject's key
// (crypto-shredding every field encrypted for the subject, see package
// [github.com/kafkaes/kafkaes/serde/pii]) and then appends a
// [pii.SubjectErased] notice to the event store, so that projections learn
// of the erasure in the log, in order, like any other event, and scrub
// the personal data they copied into their views.
//
// # Why an event
//
// Erasing the key makes every later decode of the subject's events
// redacted, but a projection may already hold plaintext copies (a name in
// a patients table). A hook called by the eraser would reach only the
// projections of the process that erased; an event reaches every
// projection of every service, also ones that are offline or rebuilding,
// at its place in the log, and is kept: a projection rebuilt from the
// start later sees it again after the subject's events (which then decode
// redacted anyway).
//
// The key is erased first and the notice appended second: if the append
// fails, the data is already unreadable and [Eraser.Erase] returns the
// error; call it again (both steps are idempotent; a second notice is
// harmless). The notice goes to a stream of its own per subject by default
// ([DefaultStream]); [WithStream] can put it into the subject's own
// aggregate stream instead, so that it lands in the same partition after
// the subject's events and the aggregate's Apply sees it too.
//
// # Handling the notice in a projection
//
//	projection.On(func(ctx context.Context, ev pii.SubjectErased, m projection.Meta) error {
//		if err := pii.Sync(ctx, keys); err != nil { // this process's key store learns the erasure now
//			return err
//		}
//		return view.Scrub(ctx, ev.Subject)
//	})
//
// pii.Sync makes sure that events handled after the notice (from other
// partitions, whose order relative to the notice Kafka does not define) no
// longer decrypt the subject's fields in this process; without it they
// would until the key store's next poll (one second by default).
package erasure

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// DefaultStream returns the stream the notice of subject goes to by
// default: "pii-erased-" followed by the subject ID.
func DefaultStream(subject string) string { return "pii-erased-" + subject }

// Eraser erases data subjects. Create it with [New]; it is safe for
// concurrent use.
type Eraser struct {
	keys   pii.KeyStore
	store  eventstore.Store
	sd     serde.Serde
	stream func(string) string
	now    func() time.Time
}

// Option configures an [Eraser].
type Option func(*Eraser)

// WithStream sets the stream the notice of a subject is appended to
// (default [DefaultStream]). Return the subject's aggregate stream to have
// the notice ordered after its events (the aggregate must then accept a
// [pii.SubjectErased] in its Apply).
func WithStream(f func(subject string) string) Option { return func(e *Eraser) { e.stream = f } }

// New returns an eraser that erases keys in keys and appends notices to
// store, encoded with sd. sd must be able to encode [pii.SubjectErased]:
// register it with serde.MustRegister[pii.SubjectErased](reg,
// pii.SubjectErasedName).
func New(keys pii.KeyStore, store eventstore.Store, sd serde.Serde, opts ...Option) (*Eraser, error) {
	if keys == nil || store == nil || sd == nil {
		return nil, errors.New("erasure: New needs a key store, an event store and a serde")
	}
	if tc, ok := sd.(serde.TypeChecker); ok {
		if err := tc.CheckType(reflect.TypeFor[pii.SubjectErased]()); err != nil {
			return nil, fmt.Errorf("erasure: the serde cannot encode the erasure notice: %w; register it with serde.MustRegister[pii.SubjectErased](reg, pii.SubjectErasedName)", err)
		}
	}
	e := &Eraser{keys: keys, store: store, sd: sd, stream: DefaultStream, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// Erase deletes the subject's key and then appends a [pii.SubjectErased]
// notice to the subject's notice stream. On error, call it again: the key
// may already be erased (then the data is unreadable) while the notice is
// missing.
func (e *Eraser) Erase(ctx context.Context, subject string) (eventstore.AppendResult, error) {
	if subject == "" {
		return eventstore.AppendResult{}, errors.New("erasure: Erase needs the data subject's ID")
	}
	if err := e.keys.Erase(ctx, subject); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("erasure: erase the key of subject %q: %w", subject, err)
	}
	name, data, err := e.sd.Marshal(ctx, pii.SubjectErased{Subject: subject, ErasedAt: e.now().UTC()})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("erasure: encode the erasure notice of subject %q (the key is erased): %w", subject, err)
	}
	res, err := e.store.Append(ctx, e.stream(subject), eventstore.Any, eventstore.Event{Type: name, Data: data})
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("erasure: append the erasure notice of subject %q (the key is erased; call Erase again): %w", subject, err)
	}
	return res, nil
}
