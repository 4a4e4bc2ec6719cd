package avro

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Kind is the Avro type of a [Schema] node.
type Kind int

// The Avro types.
const (
	Null Kind = iota
	Boolean
	Int
	Long
	Float
	Double
	Bytes
	String
	Record
	Enum
	Array
	Map
	Union
	Fixed
)

var kindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "union", "fixed"}

// String returns the Avro name of k ("long", "record", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Schema is a parsed Avro schema node. Named types (record, enum, fixed)
// that are referenced several times, or recursively, are the same *Schema.
// Schemas are immutable after [ParseSchema] returns them.
type Schema struct {
	// Kind is the Avro type.
	Kind Kind
	// Name is the full name of a record, enum or fixed ("bank.AccountOpened").
	Name string
	// Aliases are the full names of the aliases of a named type.
	Aliases []string
	// Logical is the logicalType ("timestamp-millis", "uuid", "decimal", ...) or "".
	Logical string
	// Precision and Scale of a decimal.
	Precision, Scale int
	// Fields of a record.
	Fields []*Field
	// Symbols of an enum, and its default symbol ("" if none).
	Symbols     []string
	EnumDefault string
	// Items of an array, Values of a map.
	Items, Values *Schema
	// Branches of a union.
	Branches []*Schema
	// Size of a fixed.
	Size int
}

// Field is a record field.
type Field struct {
	// Name of the field, its aliases (former names) and its type.
	Name    string
	Aliases []string
	Type    *Schema
	// Default is the JSON default value as decoded by encoding/json
	// (numbers as json.Number); HasDefault tells whether one was given.
	Default    any
	HasDefault bool
	// PII is the field's "kafkaes.pii" property: the field holds an
	// encrypted personal-data envelope (see [PIIProperty]); nil for other
	// fields.
	PII *PIIProperty
}

// ShortName returns the name of a named type without its namespace.
func (s *Schema) ShortName() string {
	return s.Name[strings.LastIndexByte(s.Name, '.')+1:]
}

// isNamed reports whether s is a record, enum or fixed.
func (s *Schema) isNamed() bool { return s.Kind == Record || s.Kind == Enum || s.Kind == Fixed }

// unionKey is the key goavro uses for s in the native form of a union
// value (map[string]any{key: value}).
func (s *Schema) unionKey() string {
	if s.isNamed() {
		return s.Name
	}
	switch {
	case s.Kind == Long && (s.Logical == "timestamp-millis" || s.Logical == "timestamp-micros" || s.Logical == "time-micros"):
		return "long." + s.Logical
	case s.Kind == Int && (s.Logical == "time-millis" || s.Logical == "date"):
		return "int." + s.Logical
	case s.Kind == Bytes && s.Logical == "decimal":
		return "bytes.decimal"
	}
	return s.Kind.String()
}

// field returns the record field called name, or nil.
func (s *Schema) field(name string) *Field {
	for _, f := range s.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validFullName reports whether n is a valid Avro full name.
func validFullName(n string) bool {
	if n == "" {
		return false
	}
	for _, p := range strings.Split(n, ".") {
		if !nameRE.MatchString(p) {
			return false
		}
	}
	return true
}

// ParseSchema parses Avro schema JSON (as in an .avsc file or a Schema
// Registry response). It checks names, defaults and references, so an
// error here says exactly which part of the schema is wrong.
func ParseSchema(text string) (*Schema, error) {
	var raw any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("avro: schema is not valid JSON: %v", err)
	}
	p := &parser{named: map[string]*Schema{}}
	s, err := p.parse(raw, "")
	if err != nil {
		return nil, fmt.Errorf("avro: invalid schema: %w", err)
	}
	return s, nil
}

type parser struct {
	named map[string]*Schema
}

var primitives = map[string]Kind{"null": Null, "boolean": Boolean, "int": Int, "long": Long, "float": Float, "double": Double, "bytes": Bytes, "string": String}

func qualify(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *parser) parse(raw any, ns string) (*Schema, error) {
	switch v := raw.(type) {
	case string:
		if k, ok := primitives[v]; ok {
			return &Schema{Kind: k}, nil
		}
		if s, ok := p.named[qualify(v, ns)]; ok {
			return s, nil
		}
		if s, ok := p.named[v]; ok {
			return s, nil
		}
		return nil, fmt.Errorf("unknown type %q (named types must be defined before they are used)", v)
	case []any:
		if len(v) == 0 {
			return nil, fmt.Errorf("a union needs at least one branch")
		}
		u := &Schema{Kind: Union}
		seen := map[string]bool{}
		for i, b := range v {
			bs, err := p.parse(b, ns)
			if err != nil {
				return nil, fmt.Errorf("union branch %d: %w", i, err)
			}
			if bs.Kind == Union {
				return nil, fmt.Errorf("union branch %d: unions may not contain unions", i)
			}
			key := bs.Kind.String()
			if bs.isNamed() {
				key = bs.Name
			}
			if seen[key] {
				return nil, fmt.Errorf("union has two branches of type %s", key)
			}
			seen[key] = true
			u.Branches = append(u.Branches, bs)
		}
		return u, nil
	case map[string]any:
		return p.parseObject(v, ns)
	}
	return nil, fmt.Errorf("a schema must be a string, an array or an object, not %T", raw)
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func intProp(m map[string]any, k string) (int, bool) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > 1<<31 {
		return 0, false
	}
	return int(i), true
}

func (p *parser) define(m map[string]any, ns string, k Kind) (*Schema, string, error) {
	name := str(m, "name")
	if name == "" {
		return nil, "", fmt.Errorf("%s without a name", k)
	}
	if sub := str(m, "namespace"); sub != "" && !strings.Contains(name, ".") {
		ns = sub
	}
	full := qualify(name, ns)
	if !validFullName(full) {
		return nil, "", fmt.Errorf("invalid name %q", full)
	}
	if _, dup := p.named[full]; dup {
		return nil, "", fmt.Errorf("type %q is defined twice", full)
	}
	s := &Schema{Kind: k, Name: full}
	childNS := full[:max(strings.LastIndexByte(full, '.'), 0)]
	if as, ok := m["aliases"].([]any); ok {
		for _, a := range as {
			if an, ok := a.(string); ok {
				s.Aliases = append(s.Aliases, qualify(an, childNS))
			}
		}
	}
	p.named[full] = s
	return s, childNS, nil
}

func (p *parser) parseObject(m map[string]any, ns string) (*Schema, error) {
	t, ok := m["type"]
	if !ok {
		return nil, fmt.Errorf("object without a \"type\"")
	}
	ts, isStr := t.(string)
	if !isStr {
		// {"type": {...}} or {"type": [...]}: a wrapped schema.
		return p.parse(t, ns)
	}
	logical := str(m, "logicalType")
	switch ts {
	case "record", "error":
		s, childNS, err := p.define(m, ns, Record)
		if err != nil {
			return nil, err
		}
		fs, ok := m["fields"].([]any)
		if !ok {
			return nil, fmt.Errorf("record %s: \"fields\" must be an array", s.Name)
		}
		seen := map[string]bool{}
		for i, fr := range fs {
			fm, ok := fr.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: field %d is not an object", s.Name, i)
			}
			f := &Field{Name: str(fm, "name")}
			if !nameRE.MatchString(f.Name) {
				return nil, fmt.Errorf("record %s: field %d has invalid name %q", s.Name, i, f.Name)
			}
			if seen[f.Name] {
				return nil, fmt.Errorf("record %s: field %q is defined twice", s.Name, f.Name)
			}
			seen[f.Name] = true
			ft, ok := fm["type"]
			if !ok {
				return nil, fmt.Errorf("record %s: field %q has no type", s.Name, f.Name)
			}
			if f.Type, err = p.parse(ft, childNS); err != nil {
				return nil, fmt.Errorf("record %s: field %q: %w", s.Name, f.Name, err)
			}
			if as, ok := fm["aliases"].([]any); ok {
				for _, a := range as {
					if an, ok := a.(string); ok {
						f.Aliases = append(f.Aliases, an)
					}
				}
			}
			if pm, ok := fm["kafkaes.pii"].(map[string]any); ok {
				f.PII = &PIIProperty{Subject: str(pm, "subject"), Label: str(pm, "label")}
			}
			if d, ok := fm["default"]; ok {
				f.Default, f.HasDefault = d, true
				if _, err := defaultToNative(f.Type, d); err != nil {
					return nil, fmt.Errorf("record %s: field %q: invalid default: %w", s.Name, f.Name, err)
				}
			}
			s.Fields = append(s.Fields, f)
		}
		return s, nil
	case "enum":
		s, _, err := p.define(m, ns, Enum)
		if err != nil {
			return nil, err
		}
		syms, ok := m["symbols"].([]any)
		if !ok {
			return nil, fmt.Errorf("enum %s: \"symbols\" must be an array", s.Name)
		}
		seen := map[string]bool{}
		for _, sy := range syms {
			ss, _ := sy.(string)
			if !nameRE.MatchString(ss) || seen[ss] {
				return nil, fmt.Errorf("enum %s: invalid or duplicate symbol %v", s.Name, sy)
			}
			seen[ss] = true
			s.Symbols = append(s.Symbols, ss)
		}
		if d, ok := m["default"]; ok {
			ds, _ := d.(string)
			if !seen[ds] {
				return nil, fmt.Errorf("enum %s: default %v is not one of its symbols", s.Name, d)
			}
			s.EnumDefault = ds
		}
		return s, nil
	case "fixed":
		s, _, err := p.define(m, ns, Fixed)
		if err != nil {
			return nil, err
		}
		if s.Size, ok = intProp(m, "size"); !ok {
			return nil, fmt.Errorf("fixed %s: \"size\" must be a non-negative integer", s.Name)
		}
		s.Logical = logical
		if logical == "decimal" {
			s.Precision, _ = intProp(m, "precision")
			s.Scale, _ = intProp(m, "scale")
		}
		return s, nil
	case "array":
		it, ok := m["items"]
		if !ok {
			return nil, fmt.Errorf("array without \"items\"")
		}
		items, err := p.parse(it, ns)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		return &Schema{Kind: Array, Items: items}, nil
	case "map":
		vt, ok := m["values"]
		if !ok {
			return nil, fmt.Errorf("map without \"values\"")
		}
		values, err := p.parse(vt, ns)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		return &Schema{Kind: Map, Values: values}, nil
	}
	k, ok := primitives[ts]
	if !ok {
		// {"type": "SomeNamedType"}
		return p.parse(ts, ns)
	}
	s := &Schema{Kind: k, Logical: logical}
	if logical == "decimal" {
		if k != Bytes {
			s.Logical = ""
		} else {
			prec, ok1 := intProp(m, "precision")
			scale, _ := intProp(m, "scale")
			if !ok1 || prec < 1 || scale > prec {
				return nil, fmt.Errorf("decimal needs 1 <= precision and 0 <= scale <= precision")
			}
			s.Precision, s.Scale = prec, scale
		}
	}
	return s, nil
}
