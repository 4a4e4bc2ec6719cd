package avro

import (
	"errors"
	"fmt"
	"reflect"
)

// The two decode paths of Unmarshal: goavro's native form converted by
// the plan (with the resolver when the writer's schema differs), and the
// direct decoder (decode.go, decode_resolve.go).

// decodeGoavro decodes body with goavro into its native form, resolves
// that to the reader's schema and converts it to a new value of t.
func decodeGoavro(dp *decodePath, t reflect.Type, body []byte, maxItems int64) (reflect.Value, error) {
	native, err := decodeNative(dp.ws, body, maxItems)
	if err != nil {
		return reflect.Value{}, err
	}
	if dp.resolve != nil {
		if native, err = dp.resolve(native); err != nil {
			return reflect.Value{}, err
		}
	}
	out := reflect.New(t).Elem()
	if err := dp.plan.dec(native, out); err != nil {
		return reflect.Value{}, err
	}
	return out, nil
}

func decodeNative(ws *writerSchema, body []byte, maxItems int64) (any, error) {
	if ws.guard {
		if err := checkBinary(ws.schema, body, maxItems); err != nil {
			return nil, fmt.Errorf("payload does not match schema ID %d: %w", ws.id, err)
		}
	}
	native, rest, err := ws.codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("payload does not match schema ID %d: %w", ws.id, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("payload does not match schema ID %d: %d trailing bytes", ws.id, len(rest))
	}
	return native, nil
}

// decodeDirect decodes body (written with ws, which has the shape of the
// reader's schema) into a new value of t.
func decodeDirect(ws *writerSchema, fn readFn, t reflect.Type, body []byte, maxItems int64) (reflect.Value, error) {
	if ws.guard {
		if err := checkBinary(ws.schema, body, maxItems); err != nil {
			return reflect.Value{}, fmt.Errorf("payload does not match schema ID %d: %w", ws.id, err)
		}
	}
	d := decoder{buf: body}
	out := reflect.New(t).Elem()
	if err := fn(&d, out); err != nil {
		if errors.Is(err, errShortBuffer) {
			err = fmt.Errorf("%w (payload ends early)", err)
		}
		return reflect.Value{}, fmt.Errorf("payload does not match schema ID %d: %w", ws.id, err)
	}
	if len(d.buf) != 0 {
		return reflect.Value{}, fmt.Errorf("payload does not match schema ID %d: %d trailing bytes", ws.id, len(d.buf))
	}
	return out, nil
}

// sameShape reports whether data written with w decodes with r to the
// same native value: the same types, names, fields, symbols and branches
// in the same order. Defaults, docs and aliases may differ.
func sameShape(w, r *Schema, seen map[[2]*Schema]bool) bool {
	if w == r {
		return true
	}
	key := [2]*Schema{w, r}
	if seen[key] {
		return true // recursion: checked where it started
	}
	seen[key] = true
	if w.Kind != r.Kind || w.Logical != r.Logical || w.Name != r.Name || w.Size != r.Size ||
		w.Precision != r.Precision || w.Scale != r.Scale || len(w.Symbols) != len(r.Symbols) ||
		len(w.Fields) != len(r.Fields) || len(w.Branches) != len(r.Branches) {
		return false
	}
	for i := range w.Symbols {
		if w.Symbols[i] != r.Symbols[i] {
			return false
		}
	}
	for i := range w.Fields {
		if w.Fields[i].Name != r.Fields[i].Name || !sameShape(w.Fields[i].Type, r.Fields[i].Type, seen) {
			return false
		}
	}
	for i := range w.Branches {
		if !sameShape(w.Branches[i], r.Branches[i], seen) {
			return false
		}
	}
	if (w.Items == nil) != (r.Items == nil) || (w.Values == nil) != (r.Values == nil) {
		return false
	}
	if w.Items != nil && !sameShape(w.Items, r.Items, seen) {
		return false
	}
	if w.Values != nil && !sameShape(w.Values, r.Values, seen) {
		return false
	}
	return true
}
