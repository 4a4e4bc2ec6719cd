package avro

import (
	"fmt"
	"reflect"
	"strings"
)

// A plan maps one Go type onto one Avro schema. It is computed once per
// (type, schema) pair and then used for every event: encode turns a Go
// value into goavro's native form, decode fills a Go value from it.
type encodeFn func(v reflect.Value, st *encState) (any, error)
type decodeFn func(native any, v reflect.Value) error

type plan struct {
	enc encodeFn
	dec decodeFn
	// encInto, for records, fills a caller-provided map (so Marshal can
	// reuse the top-level map across events).
	encInto func(v reflect.Value, st *encState, out map[string]any) error
}

type planKey struct {
	t reflect.Type
	s *Schema
}

type planner struct {
	memo map[planKey]*plan
}

// compilePlan returns the plan for Go type t and schema s, or an error
// that names the field that does not fit.
func compilePlan(t reflect.Type, s *Schema) (*plan, error) {
	p := &planner{memo: map[planKey]*plan{}}
	return p.compile(t, s)
}

func mismatch(t reflect.Type, s *Schema) error {
	what := s.Kind.String()
	if s.isNamed() {
		what += " " + s.Name
	}
	if s.Logical != "" {
		what += " (" + s.Logical + ")"
	}
	return fmt.Errorf("the Go type %v cannot hold Avro %s", t, what)
}

func (p *planner) compile(t reflect.Type, s *Schema) (*plan, error) {
	key := planKey{t, s}
	if pl, ok := p.memo[key]; ok {
		// Possibly still being built (recursive schema): call through.
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) { return pl.enc(v, st) },
			dec: func(n any, v reflect.Value) error { return pl.dec(n, v) },
		}, nil
	}
	pl := &plan{}
	p.memo[key] = pl
	built, err := p.build(t, s)
	if err != nil {
		delete(p.memo, key)
		return nil, err
	}
	*pl = *built
	return pl, nil
}

func (p *planner) build(t reflect.Type, s *Schema) (*plan, error) {
	if s.Kind == Union {
		return p.union(t, s)
	}
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		return p.pointer(t, s)
	}
	switch {
	case t == timeType:
		return timePlan(t, s)
	case t == ratType || t == ratPtrType:
		return decimalPlan(t, s)
	case t.Kind() == reflect.Array && t.Len() == 16 && t.Elem().Kind() == reflect.Uint8:
		return uuidPlan(t, s)
	}
	switch s.Kind {
	case Null:
		return &plan{
			enc: func(reflect.Value, *encState) (any, error) { return nil, nil },
			dec: func(_ any, v reflect.Value) error { v.SetZero(); return nil },
		}, nil
	case Boolean:
		if t.Kind() != reflect.Bool {
			return nil, mismatch(t, s)
		}
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) { return v.Bool(), nil },
			dec: func(n any, v reflect.Value) error {
				b, ok := n.(bool)
				if !ok {
					return nativeErr(n, s)
				}
				v.SetBool(b)
				return nil
			},
		}, nil
	case Int, Long:
		return intPlan(t, s)
	case Float, Double:
		if t.Kind() != reflect.Float32 && t.Kind() != reflect.Float64 {
			return nil, mismatch(t, s)
		}
		single := s.Kind == Float
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) {
				if single {
					return float32(v.Float()), nil
				}
				return v.Float(), nil
			},
			dec: func(n any, v reflect.Value) error {
				switch f := n.(type) {
				case float32:
					v.SetFloat(float64(f))
				case float64:
					v.SetFloat(f)
				default:
					return nativeErr(n, s)
				}
				return nil
			},
		}, nil
	case String, Enum:
		if t.Kind() != reflect.String {
			return nil, mismatch(t, s)
		}
		isEnum := s.Kind == Enum
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) {
				str := v.String()
				if isEnum && !contains(s.Symbols, str) {
					return nil, fmt.Errorf("%q is not a symbol of enum %s (symbols: %s)", str, s.Name, strings.Join(s.Symbols, ", "))
				}
				return str, nil
			},
			dec: func(n any, v reflect.Value) error {
				str, ok := n.(string)
				if !ok {
					return nativeErr(n, s)
				}
				v.SetString(str)
				return nil
			},
		}, nil
	case Bytes, Fixed:
		if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Uint8 {
			return nil, mismatch(t, s)
		}
		fixed, size := s.Kind == Fixed, s.Size
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) {
				b := v.Bytes()
				if fixed && len(b) != size {
					return nil, fmt.Errorf("fixed %s needs exactly %d bytes, got %d", s.Name, size, len(b))
				}
				if b == nil {
					b = []byte{}
				}
				return b, nil
			},
			dec: func(n any, v reflect.Value) error {
				b, ok := n.([]byte)
				if !ok {
					return nativeErr(n, s)
				}
				// goavro returns slices of the input buffer: copy.
				v.SetBytes(append([]byte(nil), b...))
				return nil
			},
		}, nil
	case Array:
		if t.Kind() != reflect.Slice {
			return nil, mismatch(t, s)
		}
		ip, err := p.compile(t.Elem(), s.Items)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) {
				out := make([]any, v.Len())
				for i := range out {
					e, err := ip.enc(v.Index(i), st)
					if err != nil {
						return nil, fmt.Errorf("[%d]: %w", i, err)
					}
					out[i] = e
				}
				return out, nil
			},
			dec: func(n any, v reflect.Value) error {
				arr, ok := n.([]any)
				if !ok {
					return nativeErr(n, s)
				}
				sl := reflect.MakeSlice(t, len(arr), len(arr))
				for i, e := range arr {
					if err := ip.dec(e, sl.Index(i)); err != nil {
						return fmt.Errorf("[%d]: %w", i, err)
					}
				}
				v.Set(sl)
				return nil
			},
		}, nil
	case Map:
		if t.Kind() != reflect.Map || t.Key().Kind() != reflect.String {
			return nil, mismatch(t, s)
		}
		vp, err := p.compile(t.Elem(), s.Values)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) {
				out := make(map[string]any, v.Len())
				it := v.MapRange()
				for it.Next() {
					e, err := vp.enc(it.Value(), st)
					if err != nil {
						return nil, fmt.Errorf("[%q]: %w", it.Key().String(), err)
					}
					out[it.Key().String()] = e
				}
				return out, nil
			},
			dec: func(n any, v reflect.Value) error {
				m, ok := n.(map[string]any)
				if !ok {
					return nativeErr(n, s)
				}
				out := reflect.MakeMapWithSize(t, len(m))
				for k, e := range m {
					ev := reflect.New(t.Elem()).Elem()
					if err := vp.dec(e, ev); err != nil {
						return fmt.Errorf("[%q]: %w", k, err)
					}
					out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
				}
				v.Set(out)
				return nil
			},
		}, nil
	case Record:
		return p.record(t, s)
	}
	return nil, mismatch(t, s)
}

func nativeErr(n any, s *Schema) error {
	return fmt.Errorf("value of type %T does not match Avro %s", n, s.Kind)
}

type fieldPlan struct {
	name   string
	field  *goField // nil if the Go type has no such field
	plan   *plan
	defNat any // native default for fields the Go type lacks
}

func (p *planner) record(t reflect.Type, s *Schema) (*plan, error) {
	if t.Kind() != reflect.Struct {
		return nil, mismatch(t, s)
	}
	goFields, err := goFieldIndex(t)
	if err != nil {
		return nil, err
	}
	fps := make([]fieldPlan, 0, len(s.Fields))
	for _, f := range s.Fields {
		fp := fieldPlan{name: f.Name}
		gf, ok := goFields.lookup(f)
		if ok {
			for k, g := range goFields {
				if g == gf {
					delete(goFields, k)
				}
			}
			pl, err := p.compile(gf.sf.Type, f.Type)
			if err != nil {
				return nil, fmt.Errorf("record %s field %q (Go %s.%s): %w", s.Name, f.Name, t.Name(), gf.goName, err)
			}
			fp.field, fp.plan = gf, pl
		} else {
			if !f.HasDefault {
				return nil, fmt.Errorf("record %s field %q has no default and Go type %v has no field for it; add the field (or an `avro:\"%s\"` tag) to the Go type", s.Name, f.Name, t, f.Name)
			}
			d, err := defaultToNative(f.Type, f.Default)
			if err != nil {
				return nil, fmt.Errorf("record %s field %q: %w", s.Name, f.Name, err)
			}
			fp.defNat = d
		}
		fps = append(fps, fp)
	}
	for name, gf := range goFields {
		return nil, fmt.Errorf("the Go field %v.%s (Avro name %q) is not in schema %s; its value would be lost: add it to the schema or tag it `avro:\"-\"`", t, gf.goName, name, s.Name)
	}
	encInto := func(v reflect.Value, st *encState, out map[string]any) error {
		for i := range fps {
			fp := &fps[i]
			if fp.field == nil {
				out[fp.name] = fp.defNat
				continue
			}
			e, err := fp.plan.enc(fp.field.of(v), st)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", s.ShortName(), fp.name, err)
			}
			out[fp.name] = e
		}
		return nil
	}
	return &plan{
		encInto: encInto,
		enc: func(v reflect.Value, st *encState) (any, error) {
			out := st.recordMap(len(fps))
			if err := encInto(v, st, out); err != nil {
				return nil, err
			}
			return out, nil
		},
		dec: func(n any, v reflect.Value) error {
			m, ok := n.(map[string]any)
			if !ok {
				return nativeErr(n, s)
			}
			for i := range fps {
				fp := &fps[i]
				if fp.field == nil {
					continue
				}
				if err := fp.plan.dec(m[fp.name], fp.field.of(v)); err != nil {
					return fmt.Errorf("%s.%s: %w", s.ShortName(), fp.name, err)
				}
			}
			return nil
		},
	}, nil
}

// pointer maps *T onto a non-union schema: nil cannot be encoded.
func (p *planner) pointer(t reflect.Type, s *Schema) (*plan, error) {
	ep, err := p.compile(t.Elem(), s)
	if err != nil {
		return nil, err
	}
	return &plan{
		enc: func(v reflect.Value, st *encState) (any, error) {
			if v.IsNil() {
				return nil, fmt.Errorf("nil %v cannot be stored as Avro %s (not nullable); make the schema a union with null", t, s.Kind)
			}
			return ep.enc(v.Elem(), st)
		},
		dec: func(n any, v reflect.Value) error {
			nv := reflect.New(t.Elem())
			if err := ep.dec(n, nv.Elem()); err != nil {
				return err
			}
			v.Set(nv)
			return nil
		},
	}, nil
}

// union maps a Go type onto a union: a nil pointer is the null branch,
// other values use the first branch their type fits.
func (p *planner) union(t reflect.Type, s *Schema) (*plan, error) {
	nullable := false
	inner := t
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		inner = t.Elem()
	}
	var enc *plan
	var encKey string
	decs := map[string]*plan{}
	for _, b := range s.Branches {
		if b.Kind == Null {
			nullable = true
			continue
		}
		bp, err := p.compile(inner, b)
		if err != nil {
			continue
		}
		decs[b.unionKey()] = bp
		if enc == nil {
			enc, encKey = bp, b.unionKey()
		}
	}
	if enc == nil {
		return nil, fmt.Errorf("the Go type %v fits no branch of the union", t)
	}
	isPtr := inner != t
	return &plan{
		enc: func(v reflect.Value, st *encState) (any, error) {
			if isPtr {
				if v.IsNil() {
					if !nullable {
						return nil, fmt.Errorf("nil %v but the union has no null branch", t)
					}
					return nil, nil
				}
				v = v.Elem()
			}
			e, err := enc.enc(v, st)
			if err != nil {
				return nil, err
			}
			m := st.unionMap()
			m[encKey] = e
			return m, nil
		},
		dec: func(n any, v reflect.Value) error {
			if n == nil {
				v.SetZero()
				return nil
			}
			m, ok := n.(map[string]any)
			if !ok || len(m) != 1 {
				return nativeErr(n, s)
			}
			for k, e := range m {
				bp, ok := decs[k]
				if !ok {
					return fmt.Errorf("union branch %s cannot be stored in Go type %v", k, t)
				}
				target := v
				if isPtr {
					nv := reflect.New(inner)
					if err := bp.dec(e, nv.Elem()); err != nil {
						return err
					}
					v.Set(nv)
					return nil
				}
				return bp.dec(e, target)
			}
			return nil
		},
	}, nil
}
