package avro

import (
	"fmt"
	"strings"
)

// Schema resolution (Avro specification, "Schema Resolution"): data
// written with schema w is read as schema r. goavro decodes with the
// writer's schema only, so the serde converts goavro's native value for w
// into the native value r would have produced:
//   - records: fields are matched by name (or the reader field's aliases);
//     reader fields missing in w take their default; writer fields missing
//     in r are dropped; records match if their full or unqualified names
//     are equal or r lists w's name as an alias;
//   - promotions int→long→float→double, int→float, int→double,
//     long→double, string↔bytes;
//   - enums: symbols are matched by name; a symbol r does not know becomes
//     r's default, or is an error;
//   - unions: the writer's branch is resolved against r (if r is a union,
//     against the first branch of r that matches exactly, else the first
//     one it can be promoted to);
//   - arrays and maps resolve their items and values; fixed needs equal
//     names and sizes.
//
// The same walk, in strict mode, is the compatibility check: there every
// writer union branch and enum symbol must be readable.

// resolveFn converts a native value of the writer schema into one of the
// reader schema.
type resolveFn func(any) (any, error)

// compatErr is a broken resolution rule at a path.
type compatErr struct {
	path, rule string
}

func (e *compatErr) Error() string { return e.path + ": " + e.rule }

type resolver struct {
	strict bool
	memo   map[[2]*Schema]*resolveFn
}

// compileResolver returns the conversion from w's native form to r's, nil
// if none is needed, or the first broken rule.
func compileResolver(w, r *Schema, strict bool) (resolveFn, error) {
	rs := &resolver{strict: strict, memo: map[[2]*Schema]*resolveFn{}}
	fn, _, err := rs.compile(w, r, r.displayName())
	return fn, err
}

func (s *Schema) displayName() string {
	if s.isNamed() {
		return s.ShortName()
	}
	return s.Kind.String()
}

func typeDesc(s *Schema) string {
	d := s.Kind.String()
	if s.isNamed() {
		d += " " + s.Name
	}
	if s.Logical != "" {
		d += " (" + s.Logical + ")"
	}
	return d
}

func namesMatch(w, r *Schema) bool {
	if w.Name == r.Name || w.ShortName() == r.ShortName() {
		return true
	}
	for _, a := range r.Aliases {
		if a == w.Name || a[strings.LastIndexByte(a, '.')+1:] == w.ShortName() {
			return true
		}
	}
	return false
}

// compile returns (fn, identity, err); identity means values pass
// unchanged (fn is then nil).
func (rs *resolver) compile(w, r *Schema, path string) (resolveFn, bool, error) {
	key := [2]*Schema{w, r}
	if p, ok := rs.memo[key]; ok {
		return func(v any) (any, error) {
			if *p == nil {
				return v, nil
			}
			return (*p)(v)
		}, false, nil
	}
	slot := new(resolveFn)
	rs.memo[key] = slot
	fn, id, err := rs.build(w, r, path)
	if err != nil {
		delete(rs.memo, key)
		return nil, false, err
	}
	*slot = fn
	return fn, id, nil
}

func (rs *resolver) build(w, r *Schema, path string) (resolveFn, bool, error) {
	if w.Kind == Union {
		return rs.writerUnion(w, r, path)
	}
	if r.Kind == Union {
		return rs.readerUnion(w, r, path)
	}
	fail := func(rule string, a ...any) (resolveFn, bool, error) {
		return nil, false, &compatErr{path, fmt.Sprintf(rule, a...)}
	}
	switch {
	case w.Kind == r.Kind && w.Kind <= String:
		if w.Logical == r.Logical && (w.Logical != "decimal" || w.Scale == r.Scale && w.Precision == r.Precision) {
			return nil, true, nil
		}
		if w.Logical == "decimal" && r.Logical == "decimal" {
			return fail("decimal changed from precision %d scale %d to precision %d scale %d; values would be misread", w.Precision, w.Scale, r.Precision, r.Scale)
		}
		return logicalAdapter(w, r, nil), false, nil
	case isPromotion(w.Kind, r.Kind):
		k := r.Kind
		return logicalAdapter(w, r, func(v any) (any, error) { return promote(v, k) }), false, nil
	}
	if w.Kind != r.Kind {
		return fail("reader type %s cannot read writer type %s", typeDesc(r), typeDesc(w))
	}
	switch w.Kind {
	case Enum:
		if !namesMatch(w, r) {
			return fail("enum %s cannot read enum %s (names differ; add an alias)", r.Name, w.Name)
		}
		same := len(w.Symbols) <= len(r.Symbols)
		var missing []string
		for _, s := range w.Symbols {
			if !contains(r.Symbols, s) {
				missing, same = append(missing, s), false
			}
		}
		if len(missing) > 0 && r.EnumDefault == "" && rs.strict {
			return fail("enum symbols %s are not in the reader's enum %s and it has no default", strings.Join(missing, ", "), r.Name)
		}
		if same {
			return nil, true, nil
		}
		def, rname := r.EnumDefault, r.Name
		return func(v any) (any, error) {
			s, _ := v.(string)
			if contains(r.Symbols, s) {
				return s, nil
			}
			if def != "" {
				return def, nil
			}
			return nil, fmt.Errorf("%s: enum symbol %q is unknown to enum %s, which has no default", path, s, rname)
		}, false, nil
	case Fixed:
		if !namesMatch(w, r) || w.Size != r.Size {
			return fail("fixed %s (size %d) cannot read fixed %s (size %d)", r.Name, r.Size, w.Name, w.Size)
		}
		return nil, true, nil
	case Array:
		fn, id, err := rs.compile(w.Items, r.Items, path+"[]")
		if err != nil || id {
			return nil, id, err
		}
		return func(v any) (any, error) {
			in, _ := v.([]any)
			out := make([]any, len(in))
			for i, e := range in {
				c, err := fn(e)
				if err != nil {
					return nil, err
				}
				out[i] = c
			}
			return out, nil
		}, false, nil
	case Map:
		fn, id, err := rs.compile(w.Values, r.Values, path+"{}")
		if err != nil || id {
			return nil, id, err
		}
		return func(v any) (any, error) {
			in, _ := v.(map[string]any)
			out := make(map[string]any, len(in))
			for k, e := range in {
				c, err := fn(e)
				if err != nil {
					return nil, err
				}
				out[k] = c
			}
			return out, nil
		}, false, nil
	case Record:
		return rs.record(w, r, path)
	}
	return fail("unsupported schema kind %s", w.Kind)
}

type fieldResolve struct {
	name, from string // reader field name, writer field name ("" = default)
	fn         resolveFn
	def        any
}

func (rs *resolver) record(w, r *Schema, path string) (resolveFn, bool, error) {
	if !namesMatch(w, r) {
		return nil, false, &compatErr{path, fmt.Sprintf("record %s cannot read record %s (names differ; add the old name as an alias)", r.Name, w.Name)}
	}
	identity := len(w.Fields) == len(r.Fields)
	frs := make([]fieldResolve, 0, len(r.Fields))
	for _, rf := range r.Fields {
		fr := fieldResolve{name: rf.Name}
		wf := w.field(rf.Name)
		for _, a := range rf.Aliases {
			if wf != nil {
				break
			}
			wf = w.field(a)
		}
		if wf == nil {
			if !rf.HasDefault {
				return nil, false, &compatErr{path + "." + rf.Name, fmt.Sprintf("field %q is not in the writer's schema and has no default", rf.Name)}
			}
			d, err := defaultToNative(rf.Type, rf.Default)
			if err != nil {
				return nil, false, &compatErr{path + "." + rf.Name, err.Error()}
			}
			fr.def, identity = d, false
		} else {
			fn, id, err := rs.compile(wf.Type, rf.Type, path+"."+rf.Name)
			if err != nil {
				return nil, false, err
			}
			fr.from, fr.fn = wf.Name, fn
			if !id || wf.Name != rf.Name {
				identity = false
			}
		}
		frs = append(frs, fr)
	}
	if identity {
		return nil, true, nil
	}
	return func(v any) (any, error) {
		in, _ := v.(map[string]any)
		out := make(map[string]any, len(frs))
		for i := range frs {
			fr := &frs[i]
			switch {
			case fr.from == "":
				out[fr.name] = fr.def
			case fr.fn == nil:
				out[fr.name] = in[fr.from]
			default:
				c, err := fr.fn(in[fr.from])
				if err != nil {
					return nil, err
				}
				out[fr.name] = c
			}
		}
		return out, nil
	}, false, nil
}

func (rs *resolver) writerUnion(w, r *Schema, path string) (resolveFn, bool, error) {
	type branch struct {
		fn  resolveFn
		err error
	}
	byKey := map[string]branch{}
	var nullBranch *branch
	identity := r.Kind == Union && len(r.Branches) == len(w.Branches)
	for i, b := range w.Branches {
		var fn resolveFn
		var id bool
		var err error
		if r.Kind == Union && i < len(r.Branches) && r.Branches[i].unionKey() == b.unionKey() && r.Branches[i].Kind == b.Kind {
			// Same branch at the same place: resolve the branch values and
			// keep the union key.
			rb := r.Branches[i]
			var inner resolveFn
			inner, id, err = rs.compile(b, rb, path)
			if err == nil && !id {
				fn = func(v any) (any, error) {
					c, err := inner(v)
					if err != nil {
						return nil, err
					}
					return wrapUnion(rb, c), nil
				}
			} else if err == nil {
				fn = func(v any) (any, error) { return wrapUnion(rb, v), nil }
			}
		} else {
			fn, _, err = rs.compile(b, r, path)
			id = false
		}
		if err != nil && rs.strict {
			return nil, false, &compatErr{path, fmt.Sprintf("writer union branch %s cannot be read: %v", typeDesc(b), err)}
		}
		// Identity holds only if r is the same union in the same order.
		if err != nil || !id {
			identity = false
		}
		br := branch{fn: fn, err: err}
		if b.Kind == Null {
			nullBranch = &br
		} else {
			byKey[b.unionKey()] = br
		}
	}
	if identity {
		return nil, true, nil
	}
	apply := func(br branch, v any) (any, error) {
		if br.err != nil {
			return nil, br.err
		}
		if br.fn == nil {
			return v, nil
		}
		return br.fn(v)
	}
	return func(v any) (any, error) {
		if v == nil {
			if nullBranch == nil {
				return nil, fmt.Errorf("%s: null value for a union without null", path)
			}
			return apply(*nullBranch, nil)
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, fmt.Errorf("%s: malformed union value %T", path, v)
		}
		for k, e := range m {
			br, ok := byKey[k]
			if !ok {
				return nil, fmt.Errorf("%s: unknown union branch %s", path, k)
			}
			return apply(br, e)
		}
		return nil, nil
	}, false, nil
}

func (rs *resolver) readerUnion(w, r *Schema, path string) (resolveFn, bool, error) {
	pick := -1
	for i, b := range r.Branches {
		if b.Kind == w.Kind && (!w.isNamed() || namesMatch(w, b)) {
			pick = i
			break
		}
	}
	var fn resolveFn
	if pick >= 0 {
		var err error
		if fn, _, err = rs.compile(w, r.Branches[pick], path); err != nil {
			return nil, false, err
		}
	} else {
		for i, b := range r.Branches {
			if f, _, err := rs.compile(w, b, path); err == nil {
				pick, fn = i, f
				break
			}
		}
	}
	if pick < 0 {
		return nil, false, &compatErr{path, fmt.Sprintf("writer type %s matches no branch of the reader's union", typeDesc(w))}
	}
	b := r.Branches[pick]
	return func(v any) (any, error) {
		if fn != nil {
			var err error
			if v, err = fn(v); err != nil {
				return nil, err
			}
		}
		return wrapUnion(b, v), nil
	}, false, nil
}

func isPromotion(w, r Kind) bool {
	switch w {
	case Int:
		return r == Long || r == Float || r == Double
	case Long:
		return r == Float || r == Double
	case Float:
		return r == Double
	case String:
		return r == Bytes
	case Bytes:
		return r == String
	}
	return false
}

func promote(v any, to Kind) (any, error) {
	switch x := v.(type) {
	case int32:
		switch to {
		case Long:
			return int64(x), nil
		case Float:
			return float32(x), nil
		case Double:
			return float64(x), nil
		}
	case int64:
		switch to {
		case Float:
			return float32(x), nil
		case Double:
			return float64(x), nil
		}
	case float32:
		if to == Double {
			return float64(x), nil
		}
	case string:
		if to == Bytes {
			return []byte(x), nil
		}
	case []byte:
		if to == String {
			return string(x), nil
		}
	}
	return nil, fmt.Errorf("cannot promote %T to %s", v, to)
}

// logicalAdapter converts w's native (logical) form to its base value,
// applies conv, and converts to r's native form.
func logicalAdapter(w, r *Schema, conv resolveFn) resolveFn {
	return func(v any) (any, error) {
		b := fromLogical(w, v)
		if conv != nil {
			var err error
			if b, err = conv(b); err != nil {
				return nil, err
			}
		}
		return toLogical(r, b), nil
	}
}
