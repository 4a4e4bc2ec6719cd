package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// JSON is a [Serde] that stores events as JSON. It keeps int64 values
// exact (numbers are never routed through float64, also inside
// interface-typed fields, which decode as [json.Number]) and rejects
// unknown fields only if DisallowUnknownFields is set.
type JSON struct {
	reg *Registry
	// DisallowUnknownFields makes Unmarshal fail on fields the Go type
	// does not have. The default (false) tolerates them, which lets old
	// code read events written by newer code.
	DisallowUnknownFields bool
	// Encryptor encrypts the fields tagged `pii` (see package
	// [github.com/kafkaes/kafkaes/serde/pii]) before encoding and
	// decrypts them after decoding. Nil (the default) makes Marshal,
	// Unmarshal and CheckType refuse types with such fields, so personal
	// data is never written in plaintext by mistake. Set it before first
	// use.
	Encryptor *pii.Encryptor

	plans sync.Map // reflect.Type -> planEntry
}

type planEntry struct {
	p   *pii.Plan
	err error
}

// plan returns the pii plan of t (nil for types without personal data),
// cached per type, or an error if t cannot be encrypted or no encryptor
// is set.
func (j *JSON) plan(t reflect.Type) (*pii.Plan, error) {
	v, ok := j.plans.Load(t)
	if !ok {
		p, err := pii.Inspect(t)
		v, _ = j.plans.LoadOrStore(t, planEntry{p, err})
	}
	e := v.(planEntry)
	if e.err != nil {
		return nil, fmt.Errorf("serde: %w", e.err)
	}
	if e.p != nil && j.Encryptor == nil {
		return nil, fmt.Errorf("serde: %v has personal-data fields (%v) but the JSON serde has no Encryptor; set serde.JSON.Encryptor = pii.NewEncryptor(keyStore)", t, e.p.Fields())
	}
	return e.p, nil
}

// NewJSON returns a JSON serde for the types in reg.
func NewJSON(reg *Registry) *JSON { return &JSON{reg: reg} }

// Marshal encodes v as JSON.
func (j *JSON) Marshal(ctx context.Context, v any) (string, []byte, error) {
	name, err := j.reg.Name(v)
	if err != nil {
		return "", nil, err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	p, err := j.plan(rv.Type())
	if err != nil {
		return "", nil, err
	}
	if p != nil {
		ev, err := j.Encryptor.Encrypt(ctx, p, rv)
		if err != nil {
			return "", nil, fmt.Errorf("serde: encode %s: %w", name, err)
		}
		v = ev.Interface()
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("serde: encode %s as JSON: %w", name, err)
	}
	return name, data, nil
}

// CheckType returns an error matching [ErrUnknownType] if t (or the type t
// points to) is not registered, and an error saying what to change if its
// `pii` tags cannot be honoured or no Encryptor is set (see
// [TypeChecker]).
func (j *JSON) CheckType(t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, err := j.reg.Name(reflect.New(t).Interface()); err != nil {
		return err
	}
	_, err := j.plan(t)
	return err
}

// TypeNames returns the name t is registered under ([TypeNamer]); ok is
// false if t is not registered.
func (j *JSON) TypeNames(t reflect.Type) ([]string, bool) {
	if t == nil || t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return nil, false
	}
	name, err := j.reg.Name(reflect.New(t).Interface())
	if err != nil {
		return nil, false
	}
	return []string{name}, true
}

// Unmarshal decodes JSON data into a new value of the type registered as
// name.
func (j *JSON) Unmarshal(ctx context.Context, name string, data []byte) (any, error) {
	t, err := j.reg.Type(name)
	if err != nil {
		return nil, err
	}
	p, err := j.plan(t)
	if err != nil {
		return nil, err
	}
	ptr := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if j.DisallowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(ptr.Interface()); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data after the JSON value", ErrMalformed, name)
	}
	if p != nil {
		if err := j.Encryptor.Decrypt(ctx, p, ptr); err != nil {
			if errors.Is(err, pii.ErrDecrypt) {
				return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
			}
			return nil, fmt.Errorf("serde: decode %s: %w", name, err)
		}
	}
	return ptr.Elem().Interface(), nil
}
