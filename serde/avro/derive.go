package avro

import (
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// Enumerated is implemented (with a value receiver) by Go string types
// that map to an Avro enum. The enum's name is the Go type name, in the
// namespace of the record that uses it first. Symbols must be valid Avro names; their order is part of
// the schema.
type Enumerated interface {
	AvroSymbols() []string
}

// EnumeratedWithDefault is implemented by an [Enumerated] that has a default symbol,
// which a reader uses for symbols written by newer code that it does not
// know (Avro 1.9+ enum defaults). Adding a default keeps FORWARD
// compatibility when new symbols are added later.
type EnumeratedWithDefault interface {
	Enumerated
	AvroDefault() string
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	ratType    = reflect.TypeFor[big.Rat]()
	ratPtrType = reflect.TypeFor[*big.Rat]()
	enumType   = reflect.TypeFor[Enumerated]()
	enumDefTyp = reflect.TypeFor[EnumeratedWithDefault]()
)

// tagInfo is a parsed `avro:"name,opt,...,default=JSON"` struct tag.
type tagInfo struct {
	name       string
	skip       bool
	micros     bool
	uuid       bool
	date       bool
	precision  int
	scale      int
	hasDefault bool
	def        json.RawMessage
}

func parseTag(f reflect.StructField) (tagInfo, error) {
	ti := tagInfo{name: f.Name, precision: 18, scale: 2}
	tag, ok := f.Tag.Lookup("avro")
	if !ok {
		return ti, nil
	}
	if tag == "-" {
		ti.skip = true
		return ti, nil
	}
	if i := strings.Index(tag, "default="); i >= 0 {
		ti.hasDefault, ti.def = true, json.RawMessage(tag[i+len("default="):])
		tag = strings.TrimSuffix(tag[:i], ",")
	}
	parts := strings.Split(tag, ",")
	if parts[0] != "" {
		ti.name = parts[0]
	}
	for _, o := range parts[1:] {
		var err error
		switch {
		case o == "micros":
			ti.micros = true
		case o == "uuid":
			ti.uuid = true
		case o == "date":
			ti.date = true
		case strings.HasPrefix(o, "precision="):
			ti.precision, err = strconv.Atoi(o[len("precision="):])
		case strings.HasPrefix(o, "scale="):
			ti.scale, err = strconv.Atoi(o[len("scale="):])
		case o == "":
		default:
			return ti, fmt.Errorf("field %s: unknown avro tag option %q (known: micros, date, uuid, precision=N, scale=N, default=JSON)", f.Name, o)
		}
		if err != nil {
			return ti, fmt.Errorf("field %s: tag option %q: %v", f.Name, o, err)
		}
	}
	if !nameRE.MatchString(ti.name) {
		return ti, fmt.Errorf("field %s: %q is not a valid Avro field name; set one with `avro:\"name\"`", f.Name, ti.name)
	}
	if ti.hasDefault && !json.Valid(ti.def) {
		// Allow unquoted strings: default=EUR.
		q, _ := json.Marshal(string(ti.def))
		ti.def = q
	}
	return ti, nil
}

// DeriveSchema returns the Avro schema JSON for Go type t as a record
// named fullName (which must be a valid Avro full name such as
// "bank.AccountOpened"). Mapping:
//
//   - bool → boolean; int8, int16, int32, uint8, uint16 → int;
//     int, int64, uint32 → long; float32 → float; float64 → double;
//     string → string; []byte → bytes.
//   - time.Time → long timestamp-millis (tag option "micros" for
//     timestamp-micros, "date" for int date). Values are stored in UTC,
//     truncated to the unit.
//   - [16]byte types (such as uuid.UUID) → string with logicalType uuid;
//     tag option "uuid" marks a string field as uuid.
//   - *big.Rat or big.Rat → bytes decimal with precision 18 and scale 2
//     (tag options precision=N, scale=N). Values that do not fit the scale
//     are rejected, never rounded.
//   - string types implementing [Enumerated] → enum.
//   - []T → array; map[string]T → map; structs → records named after the
//     Go type in the namespace of fullName (or after [Named.AvroName]).
//   - *T → union ["null", T] with default null.
//
// Field names are the Go names, or the first part of an `avro:"name"`
// tag; `avro:"-"` skips a field. The fields of an embedded struct are
// flattened into the record as encoding/json does (an embedded struct with
// a name tag is a nested record instead; the shallowest field wins a name
// clash; an embedded struct without exported fields, such as
// aggregate.Root, adds nothing; see the package doc); `avro:"name,default=JSON"` sets a default
// (a bare word is taken as a string), which a reader needs when a field
// is added. uint, uint64, uintptr, interfaces, channels and functions are
// rejected.
func DeriveSchema(t reflect.Type, fullName string) (string, error) {
	if t.Kind() != reflect.Struct {
		return "", fmt.Errorf("avro: cannot derive a schema for %v: an event must be a struct", t)
	}
	if !validFullName(fullName) {
		return "", fmt.Errorf("avro: %q is not a valid Avro full name; register the type under a name such as \"bank.AccountOpened\" (dot-separated, letters, digits and _)", fullName)
	}
	d := &deriver{ns: fullName[:max(strings.LastIndexByte(fullName, '.'), 0)], defined: map[string]reflect.Type{}, active: map[reflect.Type]bool{}}
	v, err := d.record(t, fullName)
	if err != nil {
		return "", fmt.Errorf("avro: derive schema for %v: %w", t, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("avro: derive schema for %v: %w", t, err)
	}
	return string(b), nil
}

type deriver struct {
	ns      string
	defined map[string]reflect.Type
	active  map[reflect.Type]bool
}

type jsonField struct {
	Name    string          `json:"name"`
	Type    any             `json:"type"`
	Default json.RawMessage `json:"default,omitempty"`
	PII     *PIIProperty    `json:"kafkaes.pii,omitempty"`
}

// PIIProperty is the value of the "kafkaes.pii" property of a record field
// that holds an encrypted personal-data field (a `pii` tag in Go, see
// package [github.com/kafkaes/kafkaes/serde/pii]): the field's type is
// string (the envelope's text form) or bytes (its binary form), and the
// property says which field holds the data subject's ID and which label
// is bound into the ciphertext. Readers in other languages use it to
// decrypt; `kafkaes verify` uses it to find plaintext.
type PIIProperty struct {
	// Subject is the Avro name of the record field that holds the data
	// subject's ID.
	Subject string `json:"subject"`
	// Label is the field's label in the ciphertext's additional data.
	Label string `json:"label"`
}

type jsonRecord struct {
	Type    string      `json:"type"`
	Name    string      `json:"name"`
	Aliases []string    `json:"aliases,omitempty"`
	Fields  []jsonField `json:"fields"`
}

// Aliased is implemented by Go types (events, nested records, enums) that
// were renamed: AvroAliases returns their former Avro full names. Schema
// resolution then reads data written under an old name, and the serde
// decodes events whose type name (es.type) is an alias of a registered
// event as that event.
type Aliased interface {
	AvroAliases() []string
}

var aliasedType = reflect.TypeFor[Aliased]()

func aliasesOf(t reflect.Type) []string {
	if t.Implements(aliasedType) {
		return reflect.Zero(t).Interface().(Aliased).AvroAliases()
	}
	return nil
}

// Named is implemented by Go types (nested records and enums) that choose
// their Avro name instead of using the Go type name, for example when a
// v2 Go type must keep the v1 Avro name so that schemas stay compatible.
// A name without dots is put in the namespace of the event's record.
type Named interface {
	AvroName() string
}

var namedType = reflect.TypeFor[Named]()

func (d *deriver) named(t reflect.Type) (full string, seen bool, err error) {
	short := t.Name()
	if t.Implements(namedType) {
		short = reflect.Zero(t).Interface().(Named).AvroName()
	}
	if short == "" {
		return "", false, fmt.Errorf("anonymous type %v cannot be an Avro named type; declare a named type", t)
	}
	full = short
	if d.ns != "" && !strings.Contains(short, ".") {
		full = d.ns + "." + short
	}
	if !validFullName(full) {
		return "", false, fmt.Errorf("type %v: %q is not a valid Avro name", t, full)
	}
	if old, ok := d.defined[full]; ok {
		if old != t {
			return "", false, fmt.Errorf("types %v and %v would both be named %s; rename one", old, t, full)
		}
		return full, true, nil
	}
	d.defined[full] = t
	return full, false, nil
}

func (d *deriver) record(t reflect.Type, full string) (any, error) {
	if d.active[t] {
		return nil, fmt.Errorf("recursive type %v is not supported", t)
	}
	d.active[t] = true
	defer delete(d.active, t)
	d.defined[full] = t
	rec := jsonRecord{Type: "record", Name: full, Aliases: aliasesOf(t), Fields: []jsonField{}}
	fields, err := goFields(t)
	if err != nil {
		return nil, err
	}
	for _, gf := range fields {
		sf, ti := gf.sf, gf.ti
		ft, err := d.typ(sf.Type, ti)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", gf.goName, err)
		}
		jf := jsonField{Name: ti.name, Type: ft}
		if jf.PII, err = piiProperty(gf, fields); err != nil {
			return nil, err
		}
		if sf.Type.Kind() == reflect.Pointer && sf.Type != ratPtrType {
			jf.Default = json.RawMessage("null")
		}
		if ti.hasDefault {
			jf.Default = ti.def
		}
		rec.Fields = append(rec.Fields, jf)
	}
	return rec, nil
}

// piiProperty returns the "kafkaes.pii" property of a field tagged `pii`
// (nil for other fields). The pii package checks the rest of the tag (see
// pii.Inspect, which the serde runs first).
func piiProperty(gf *goField, fields []*goField) (*PIIProperty, error) {
	tag, ok, err := pii.ParseTag(gf.sf)
	if !ok || err != nil {
		return nil, err
	}
	if gf.ti.uuid || gf.sf.Type.Implements(enumType) || gf.sf.Type.Kind() != reflect.String && gf.sf.Type != reflect.TypeFor[[]byte]() && !(gf.sf.Type.Kind() == reflect.Slice && gf.sf.Type.Elem().Kind() == reflect.Uint8) {
		return nil, fmt.Errorf("field %s is tagged pii but maps to a uuid, enum or non-string Avro type, which cannot hold a ciphertext; make it a plain string or []byte", gf.goName)
	}
	var subj *goField
	for _, o := range fields {
		if o.sf.Name == tag.Subject && (subj == nil || o.depth < subj.depth) {
			subj = o
		}
	}
	if subj == nil {
		return nil, fmt.Errorf("field %s is tagged pii with subject field %s, which is not a field of the record", gf.goName, tag.Subject)
	}
	return &PIIProperty{Subject: subj.ti.name, Label: tag.Label}, nil
}

func (d *deriver) typ(t reflect.Type, ti tagInfo) (any, error) {
	switch {
	case t == timeType:
		switch {
		case ti.date:
			return map[string]any{"type": "int", "logicalType": "date"}, nil
		case ti.micros:
			return map[string]any{"type": "long", "logicalType": "timestamp-micros"}, nil
		}
		return map[string]any{"type": "long", "logicalType": "timestamp-millis"}, nil
	case t == ratType || t == ratPtrType:
		if ti.precision < 1 || ti.scale < 0 || ti.scale > ti.precision {
			return nil, fmt.Errorf("decimal needs 1 <= precision and 0 <= scale <= precision, got precision=%d scale=%d", ti.precision, ti.scale)
		}
		return map[string]any{"type": "bytes", "logicalType": "decimal", "precision": ti.precision, "scale": ti.scale}, nil
	case t.Kind() == reflect.Array && t.Len() == 16 && t.Elem().Kind() == reflect.Uint8:
		return map[string]any{"type": "string", "logicalType": "uuid"}, nil
	case t.Kind() == reflect.String && t.Implements(enumType):
		full, seen, err := d.named(t)
		if err != nil || seen {
			return full, err
		}
		e := reflect.Zero(t).Interface().(Enumerated)
		m := map[string]any{"type": "enum", "name": full, "symbols": e.AvroSymbols()}
		if al := aliasesOf(t); len(al) > 0 {
			m["aliases"] = al
		}
		if t.Implements(enumDefTyp) {
			m["default"] = reflect.Zero(t).Interface().(EnumeratedWithDefault).AvroDefault()
		}
		return m, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean", nil
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		return "int", nil
	case reflect.Int, reflect.Int64, reflect.Uint32:
		return "long", nil
	case reflect.Float32:
		return "float", nil
	case reflect.Float64:
		return "double", nil
	case reflect.String:
		if ti.uuid {
			return map[string]any{"type": "string", "logicalType": "uuid"}, nil
		}
		return "string", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes", nil
		}
		it, err := d.typ(t.Elem(), tagInfo{precision: ti.precision, scale: ti.scale, micros: ti.micros})
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": it}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %v: Avro maps need string keys", t.Key())
		}
		vt, err := d.typ(t.Elem(), tagInfo{precision: ti.precision, scale: ti.scale, micros: ti.micros})
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "map", "values": vt}, nil
	case reflect.Pointer:
		et, err := d.typ(t.Elem(), ti)
		if err != nil {
			return nil, err
		}
		return []any{"null", et}, nil
	case reflect.Struct:
		full, seen, err := d.named(t)
		if err != nil || seen {
			return full, err
		}
		return d.record(t, full)
	}
	return nil, fmt.Errorf("the Go type %v has no Avro mapping (use int64 instead of uint64, a struct instead of an interface)", t)
}
