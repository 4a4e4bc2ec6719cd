package avro

import (
	"context"
	"fmt"
	"reflect"
)

// UnmarshalGeneric decodes a Confluent-framed Avro payload with the
// writer's schema only, into goavro's native form (map[string]any for
// records; unions as nil or map[string]any{"type": value}; timestamps as
// time.Time; decimals as *big.Rat). Upcasters ([serde.Upcasters]) use it for
// events whose type name no longer has a Go type.
func (s *Serde) UnmarshalGeneric(ctx context.Context, name string, data []byte) (any, error) {
	id, body, err := frame(data)
	if err != nil {
		return nil, &DecodeError{Type: name, Topic: s.topic, Err: err}
	}
	ws, err := s.fetchWriter(ctx, id)
	if err != nil {
		return nil, err
	}
	native, err := decodeNative(ws, body, s.cfg.maxItems)
	if err != nil {
		return nil, &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: err}
	}
	return native, nil
}

// FromGeneric converts a generic record value (map[string]any in goavro's
// native form, as from UnmarshalGeneric and changed by upcasters) into the
// Go type registered as name. Fields of the type's schema that the map
// lacks take their schema defaults; values must otherwise have the native
// types of the type's current schema.
func (s *Serde) FromGeneric(ctx context.Context, name string, v any) (any, error) {
	t, err := s.reg.Type(name)
	if err != nil {
		return nil, err
	}
	ri, err := s.reader(t, name)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("avro: FromGeneric(%s) needs a map[string]any record value, got %T", name, v)
	}
	full := make(map[string]any, len(ri.schema.Fields))
	for _, f := range ri.schema.Fields {
		if fv, ok := m[f.Name]; ok {
			full[f.Name] = fv
			continue
		}
		if !f.HasDefault {
			return nil, fmt.Errorf("avro: FromGeneric(%s): field %q is missing and has no default", name, f.Name)
		}
		d, err := defaultToNative(f.Type, f.Default)
		if err != nil {
			return nil, err
		}
		full[f.Name] = d
	}
	out := reflect.New(t).Elem()
	if err := ri.plan.dec(full, out); err != nil {
		return nil, fmt.Errorf("avro: FromGeneric(%s): %w", name, err)
	}
	if ri.pii != nil {
		if err := s.decrypt(ctx, ri.pii, out, name, 0); err != nil {
			return nil, err
		}
	}
	return out.Interface(), nil
}
