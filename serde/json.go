package serde

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
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
}

// NewJSON returns a JSON serde for the types in reg.
func NewJSON(reg *Registry) *JSON { return &JSON{reg: reg} }

// Marshal encodes v as JSON.
func (j *JSON) Marshal(_ context.Context, v any) (string, []byte, error) {
	name, err := j.reg.Name(v)
	if err != nil {
		return "", nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("serde: encode %s as JSON: %w", name, err)
	}
	return name, data, nil
}

// CheckType returns an error matching [ErrUnknownType] if t (or the type t
// points to) is not registered (see [TypeChecker]).
func (j *JSON) CheckType(t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	_, err := j.reg.Name(reflect.New(t).Interface())
	return err
}

// Unmarshal decodes JSON data into a new value of the type registered as
// name.
func (j *JSON) Unmarshal(_ context.Context, name string, data []byte) (any, error) {
	t, err := j.reg.Type(name)
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
	return ptr.Elem().Interface(), nil
}
