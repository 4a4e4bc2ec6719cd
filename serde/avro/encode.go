package avro

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"time"
)

// The direct encoder writes Avro binary straight from a Go value, without
// building goavro's native maps first (which costs about as much as
// goavro's own encoding). It is compiled next to the plan, for the same
// (Go type, schema) pair, and produces the same bytes as goavro (the
// tests compare both on many values, and fastavro reads them). Where it
// has no direct form (a schema field the Go type lacks, so a default must
// be written), the serde falls back to the plan + goavro path.

type appendFn func(buf []byte, v reflect.Value) ([]byte, error)

type appender struct {
	memo map[planKey]*appendFn
}

// compileAppend returns the direct encoder for t and s, or ok=false if
// the pair needs the goavro path. It assumes compilePlan(t, s) succeeded.
func compileAppend(t reflect.Type, s *Schema) (appendFn, bool) {
	a := &appender{memo: map[planKey]*appendFn{}}
	return a.compile(t, s)
}

func (a *appender) compile(t reflect.Type, s *Schema) (appendFn, bool) {
	key := planKey{t, s}
	if p, ok := a.memo[key]; ok {
		return func(buf []byte, v reflect.Value) ([]byte, error) { return (*p)(buf, v) }, true
	}
	slot := new(appendFn)
	a.memo[key] = slot
	fn, ok := a.build(t, s)
	if !ok {
		return nil, false
	}
	*slot = fn
	return fn, true
}

func appendLong(buf []byte, i int64) []byte {
	return binary.AppendUvarint(buf, uint64(i<<1)^uint64(i>>63))
}

func (a *appender) build(t reflect.Type, s *Schema) (appendFn, bool) {
	if s.Kind == Union {
		return a.union(t, s)
	}
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		ef, ok := a.compile(t.Elem(), s)
		if !ok {
			return nil, false
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			if v.IsNil() {
				return nil, fmt.Errorf("nil %v cannot be stored as Avro %s (not nullable); make the schema a union with null", t, s.Kind)
			}
			return ef(buf, v.Elem())
		}, true
	}
	switch {
	case t == timeType:
		switch s.Logical {
		case "timestamp-millis":
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				tm := v.Interface().(time.Time)
				return appendLong(buf, tm.Unix()*1e3+int64(tm.Nanosecond()/1e6)), nil
			}, true
		case "timestamp-micros":
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				tm := v.Interface().(time.Time)
				return appendLong(buf, tm.Unix()*1e6+int64(tm.Nanosecond()/1e3)), nil
			}, true
		case "date":
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				return appendLong(buf, v.Interface().(time.Time).Unix()/86400), nil
			}, true
		}
		return nil, false
	case t == ratType || t == ratPtrType:
		isPtr := t == ratPtrType
		limit := pow10(s.Precision)
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			_, n, err := decimalOf(v, isPtr, s, limit)
			if err != nil {
				return nil, err
			}
			b := twosFromInt(n)
			return append(appendLong(buf, int64(len(b))), b...), nil
		}, true
	case t.Kind() == reflect.Array && t.Len() == 16 && t.Elem().Kind() == reflect.Uint8:
		if s.Kind == Fixed {
			return func(buf []byte, v reflect.Value) ([]byte, error) {
				for i := 0; i < 16; i++ {
					buf = append(buf, byte(v.Index(i).Uint()))
				}
				return buf, nil
			}, true
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			var b [16]byte
			reflect.Copy(reflect.ValueOf(b[:]), v)
			return append(appendLong(buf, 36), formatUUID(b)...), nil
		}, true
	}
	switch s.Kind {
	case Null:
		return func(buf []byte, _ reflect.Value) ([]byte, error) { return buf, nil }, true
	case Boolean:
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			if v.Bool() {
				return append(buf, 1), nil
			}
			return append(buf, 0), nil
		}, true
	case Int, Long:
		signed := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if s.Kind == Int {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			var i int64
			if signed {
				i = v.Int()
			} else {
				i = int64(v.Uint())
			}
			if i < lo || i > hi {
				return nil, fmt.Errorf("%d overflows Avro %s", i, s.Kind)
			}
			return appendLong(buf, i), nil
		}, true
	case Float:
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			return binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(v.Float()))), nil
		}, true
	case Double:
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			return binary.LittleEndian.AppendUint64(buf, math.Float64bits(v.Float())), nil
		}, true
	case String:
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			str := v.String()
			return append(appendLong(buf, int64(len(str))), str...), nil
		}, true
	case Enum:
		index := make(map[string]int64, len(s.Symbols))
		for i, sym := range s.Symbols {
			index[sym] = int64(i)
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			i, ok := index[v.String()]
			if !ok {
				return nil, fmt.Errorf("%q is not a symbol of enum %s (symbols: %v)", v.String(), s.Name, s.Symbols)
			}
			return appendLong(buf, i), nil
		}, true
	case Bytes, Fixed:
		fixed := s.Kind == Fixed
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			b := v.Bytes()
			if fixed {
				if len(b) != s.Size {
					return nil, fmt.Errorf("fixed %s needs exactly %d bytes, got %d", s.Name, s.Size, len(b))
				}
				return append(buf, b...), nil
			}
			return append(appendLong(buf, int64(len(b))), b...), nil
		}, true
	case Array:
		item, ok := a.compile(t.Elem(), s.Items)
		if !ok {
			return nil, false
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			n := v.Len()
			if n > 0 {
				buf = appendLong(buf, int64(n))
				for i := 0; i < n; i++ {
					var err error
					if buf, err = item(buf, v.Index(i)); err != nil {
						return nil, fmt.Errorf("[%d]: %w", i, err)
					}
				}
			}
			return append(buf, 0), nil
		}, true
	case Map:
		val, ok := a.compile(t.Elem(), s.Values)
		if !ok {
			return nil, false
		}
		return func(buf []byte, v reflect.Value) ([]byte, error) {
			if n := v.Len(); n > 0 {
				buf = appendLong(buf, int64(n))
				it := v.MapRange()
				for it.Next() {
					k := it.Key().String()
					buf = append(appendLong(buf, int64(len(k))), k...)
					var err error
					if buf, err = val(buf, it.Value()); err != nil {
						return nil, fmt.Errorf("[%q]: %w", k, err)
					}
				}
			}
			return append(buf, 0), nil
		}, true
	case Record:
		return a.record(t, s)
	}
	return nil, false
}

// fieldApp is the appender of one field of a record.
type fieldApp struct {
	field *goField
	name  string
	fn    appendFn
}

// fields compiles the appenders of the fields of record schema s for the
// struct type t, in the schema's order; ok=false when the pair needs the
// goavro path.
func (a *appender) fields(t reflect.Type, s *Schema) ([]fieldApp, bool) {
	goFields, err := goFieldIndex(t)
	if err != nil {
		return nil, false // the plan refuses this type too
	}
	fields := make([]fieldApp, 0, len(s.Fields))
	for _, f := range s.Fields {
		gf, ok := goFields.lookup(f)
		if !ok {
			return nil, false // a default must be written: goavro path
		}
		fn, ok := a.compile(gf.sf.Type, f.Type)
		if !ok {
			return nil, false
		}
		fields = append(fields, fieldApp{gf, f.Name, fn})
	}
	return fields, true
}

func (a *appender) record(t reflect.Type, s *Schema) (appendFn, bool) {
	fields, ok := a.fields(t, s)
	if !ok {
		return nil, false
	}
	short := s.ShortName()
	return func(buf []byte, v reflect.Value) ([]byte, error) {
		for i := range fields {
			f := &fields[i]
			var err error
			if buf, err = f.fn(buf, f.field.of(v)); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", short, f.name, err)
			}
		}
		return buf, nil
	}, true
}

func (a *appender) union(t reflect.Type, s *Schema) (appendFn, bool) {
	inner := t
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		inner = t.Elem()
	}
	isPtr := inner != t
	nullIndex := int64(-1)
	var branch appendFn
	branchIndex := int64(-1)
	for i, b := range s.Branches {
		if b.Kind == Null {
			if nullIndex < 0 {
				nullIndex = int64(i)
			}
			continue
		}
		if branch != nil {
			continue
		}
		// The same branch the plan chose: the first one the type fits.
		if _, err := compilePlan(inner, b); err != nil {
			continue
		}
		fn, ok := a.compile(inner, b)
		if !ok {
			return nil, false
		}
		branch, branchIndex = fn, int64(i)
	}
	if branch == nil {
		return nil, false
	}
	return func(buf []byte, v reflect.Value) ([]byte, error) {
		if isPtr {
			if v.IsNil() {
				if nullIndex < 0 {
					return nil, fmt.Errorf("nil %v but the union has no null branch", t)
				}
				return appendLong(buf, nullIndex), nil
			}
			v = v.Elem()
		}
		return branch(appendLong(buf, branchIndex), v)
	}, true
}
