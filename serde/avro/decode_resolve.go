package avro

import (
	"fmt"
	"reflect"
)

// Direct decoding with the simplest schema resolution: records whose
// fields were added (read as their defaults), removed (skipped, validated
// as goavro does) or reordered, at any depth of nested records. Any other
// difference between writer and reader (promotions, changed enums or
// unions, ...) leaves the payload to goavro and the resolver.

// compileReadResolved returns the direct decoder for data written with w
// and read as r into t, or ok=false. It assumes compileResolver(w, r) and
// compilePlan(t, r) succeeded.
func compileReadResolved(t reflect.Type, w, r *Schema) (readFn, bool) {
	rc := &readCompiler{open: map[*Schema]bool{}}
	return rc.resolved(t, w, r)
}

func (rc *readCompiler) resolved(t reflect.Type, w, r *Schema) (readFn, bool) {
	if sameShape(w, r, map[[2]*Schema]bool{}) {
		return rc.build(t, r)
	}
	if w.Kind != Record || r.Kind != Record {
		return nil, false
	}
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		ef, ok := rc.resolved(t.Elem(), w, r)
		if !ok {
			return nil, false
		}
		return pointerRead(t.Elem(), ef), true
	}
	return rc.resolvedRecord(t, w, r)
}

func (rc *readCompiler) resolvedRecord(t reflect.Type, w, r *Schema) (readFn, bool) {
	if t.Kind() != reflect.Struct || !namesMatch(w, r) || rc.open[r] || rc.open[w] {
		return nil, false
	}
	rc.open[r], rc.open[w] = true, true
	defer delete(rc.open, r)
	defer delete(rc.open, w)
	goFields, err := goFieldIndex(t)
	if err != nil {
		return nil, false // the plan refuses this type too
	}
	type fieldDefault struct {
		field  *goField
		name   string
		dec    decodeFn
		native any
	}
	actions := make([]readFn, len(w.Fields)) // per writer field, in wire order
	var defaults []fieldDefault
	short := r.ShortName()
	for _, rf := range r.Fields {
		gi, inGo := goFields.lookup(rf)
		// The writer's field, as the resolver finds it.
		wi := w.fieldIndex(rf.Name)
		for _, a := range rf.Aliases {
			if wi >= 0 {
				break
			}
			wi = w.fieldIndex(a)
		}
		if wi < 0 {
			if !inGo {
				continue // neither written nor held by the Go type
			}
			if !rf.HasDefault {
				return nil, false
			}
			nat, err := defaultToNative(rf.Type, rf.Default)
			if err != nil {
				return nil, false
			}
			pl, err := compilePlan(gi.sf.Type, rf.Type)
			if err != nil {
				return nil, false
			}
			defaults = append(defaults, fieldDefault{gi, rf.Name, pl.dec, nat})
			continue
		}
		if actions[wi] != nil {
			return nil, false // one writer field read by two reader fields
		}
		if !inGo {
			sk, ok := rc.skip(w.Fields[wi].Type)
			if !ok {
				return nil, false
			}
			actions[wi] = sk
			continue
		}
		fn, ok := rc.resolved(gi.sf.Type, w.Fields[wi].Type, rf.Type)
		if !ok {
			return nil, false
		}
		name, field := rf.Name, gi
		actions[wi] = func(d *decoder, v reflect.Value) error {
			if err := fn(d, field.of(v)); err != nil {
				return fmt.Errorf("%s.%s: %w", short, name, err)
			}
			return nil
		}
	}
	for i, a := range actions {
		if a != nil {
			continue
		}
		sk, ok := rc.skip(w.Fields[i].Type)
		if !ok {
			return nil, false
		}
		actions[i] = sk
	}
	return func(d *decoder, v reflect.Value) error {
		for _, a := range actions {
			if err := a(d, v); err != nil {
				return err
			}
		}
		for i := range defaults {
			f := &defaults[i]
			if err := f.dec(f.native, f.field.of(v)); err != nil {
				return fmt.Errorf("%s.%s: default: %w", short, f.name, err)
			}
		}
		return nil
	}, true
}

func (s *Schema) fieldIndex(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// skip compiles a reader that validates a value of s as goavro's decoder
// does and discards it.
func (rc *readCompiler) skip(s *Schema) (readFn, bool) {
	if s.Logical == "decimal" || s.Logical == "validated-string" {
		return nil, false // goavro's conversions of these can fail
	}
	switch s.Kind {
	case Null:
		return func(*decoder, reflect.Value) error { return nil }, true
	case Boolean:
		return func(d *decoder, _ reflect.Value) error {
			if len(d.buf) < 1 {
				return errShortBuffer
			}
			if d.buf[0] > 1 {
				return fmt.Errorf("cannot decode binary boolean: received byte %d", d.buf[0])
			}
			d.buf = d.buf[1:]
			return nil
		}, true
	case Int:
		return func(d *decoder, _ reflect.Value) error { _, err := d.int(); return err }, true
	case Long:
		return func(d *decoder, _ reflect.Value) error { _, err := d.long(); return err }, true
	case Float, Double, Fixed:
		n := 4
		if s.Kind == Double {
			n = 8
		} else if s.Kind == Fixed {
			n = s.Size
		}
		return func(d *decoder, _ reflect.Value) error { _, err := d.fixed(n); return err }, true
	case Bytes, String:
		return func(d *decoder, _ reflect.Value) error { _, err := d.bytes(); return err }, true
	case Enum:
		n := int64(len(s.Symbols))
		return func(d *decoder, _ reflect.Value) error {
			i, err := d.long()
			if err == nil && (i < 0 || i >= n) {
				err = fmt.Errorf("enum %s index %d out of range", s.Name, i)
			}
			return err
		}, true
	case Union:
		branches := make([]readFn, len(s.Branches))
		for i, b := range s.Branches {
			fn, ok := rc.skip(b)
			if !ok {
				return nil, false
			}
			branches[i] = fn
		}
		return func(d *decoder, v reflect.Value) error {
			i, err := d.long()
			if err != nil {
				return err
			}
			if i < 0 || i >= int64(len(branches)) {
				return fmt.Errorf("union branch index %d out of range", i)
			}
			return branches[i](d, v)
		}, true
	case Array, Map:
		item := s.Items
		if s.Kind == Map {
			item = s.Values
		}
		fn, ok := rc.skip(item)
		if !ok {
			return nil, false
		}
		isMap := s.Kind == Map
		return func(d *decoder, v reflect.Value) error {
			var keys map[string]bool
			for {
				n, err := d.blockCount()
				if err != nil || n == 0 {
					return err
				}
				for ; n > 0; n-- {
					if isMap {
						k, err := d.bytes()
						if err != nil {
							return err
						}
						if keys == nil {
							keys = map[string]bool{}
						}
						if keys[string(k)] {
							return fmt.Errorf("duplicate map key %q", k)
						}
						keys[string(k)] = true
					}
					if err := fn(d, v); err != nil {
						return err
					}
				}
			}
		}, true
	case Record:
		if rc.open[s] {
			return nil, false
		}
		rc.open[s] = true
		defer delete(rc.open, s)
		fields := make([]readFn, len(s.Fields))
		for i, f := range s.Fields {
			fn, ok := rc.skip(f.Type)
			if !ok {
				return nil, false
			}
			fields[i] = fn
		}
		return func(d *decoder, v reflect.Value) error {
			for _, fn := range fields {
				if err := fn(d, v); err != nil {
					return err
				}
			}
			return nil
		}, true
	}
	return nil, false
}
