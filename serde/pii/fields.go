package pii

import (
	"fmt"
	"reflect"
	"strings"
)

// TagName is the struct tag that marks a field as personal data:
// `pii:"SubjectField"` or `pii:"SubjectField,label=name"`.
const TagName = "pii"

// Plan says which fields of a Go type hold personal data and how to find
// their subjects. [Inspect] builds it; serdes keep it with the type.
type Plan struct {
	t      reflect.Type
	fields []field
	redact []int // index of the embedded Redactable
}

type field struct {
	index   []int
	name    string // Go field name, reported by Redacted
	label   string // bound into the ciphertext
	bytes   bool   // []byte field: binary envelope; else string
	subject []int  // index of the subject field
	subjKey string // Go name of the subject field
}

// Fields returns the Go names of the fields of the plan's type that hold
// personal data, in declaration order.
func (p *Plan) Fields() []string {
	out := make([]string, len(p.fields))
	for i, f := range p.fields {
		out[i] = f.name
	}
	return out
}

// Len returns the number of personal-data fields (the length of
// [Plan.Fields]).
func (p *Plan) Len() int { return len(p.fields) }

// Index returns the index sequence of field i of the plan (in the order
// of [Plan.Fields]) in the plan's type, as for reflect.Value.FieldByIndex.
// The slice must not be modified.
func (p *Plan) Index(i int) []int { return p.fields[i].index }

// Type returns the Go type the plan is for.
func (p *Plan) Type() reflect.Type { return p.t }

// Tag is a parsed `pii` struct tag.
type Tag struct {
	// Subject is the Go name of the field, in the same struct, that holds
	// the data subject's ID.
	Subject string
	// Label names the field in the additional data of its ciphertext.
	// Default: the Go field name. Keep it when you rename the field
	// (`pii:"PatientID,label=OldName"`), or old ciphertexts stop
	// decrypting.
	Label string
}

// ParseTag parses the `pii` tag of f; ok is false when f has none.
func ParseTag(f reflect.StructField) (tag Tag, ok bool, err error) {
	s, ok := f.Tag.Lookup(TagName)
	if !ok {
		return Tag{}, false, nil
	}
	parts := strings.Split(s, ",")
	tag = Tag{Subject: strings.TrimSpace(parts[0]), Label: f.Name}
	if tag.Subject == "" {
		return tag, true, fmt.Errorf("pii: field %s: the pii tag must name the field that holds the data subject's ID, as in `pii:\"PatientID\"`", f.Name)
	}
	for _, o := range parts[1:] {
		switch {
		case strings.HasPrefix(o, "label="):
			tag.Label = o[len("label="):]
			if tag.Label == "" {
				return tag, true, fmt.Errorf("pii: field %s: empty label= in the pii tag", f.Name)
			}
		default:
			return tag, true, fmt.Errorf("pii: field %s: unknown pii tag option %q (known: label=NAME)", f.Name, o)
		}
	}
	return tag, true, nil
}

var (
	redactableType = reflect.TypeFor[Redactable]()
	bytesKind      = reflect.Uint8
)

// Inspect returns the plan of struct type t (or the struct t points to):
// nil, nil when t has no field tagged `pii`. It fails, saying what to do,
// when a tag cannot be honoured, so that no personal data is ever written
// in plaintext by mistake:
//
//   - a tagged field must be a string or []byte (also of named types);
//     encode other values (time.Time, numbers) into a string field first;
//   - it must be a field of the event struct itself, or of a struct
//     embedded by value (not a pointer); tags in nested records, slices or
//     maps are refused;
//   - the subject field it names must exist in the struct, be a string,
//     and not be tagged itself;
//   - the type must embed [Redactable], so that decoded values can say
//     which fields were redacted.
//
// Inspect walks the type with reflection: call it once per type and keep
// the plan (serdes do).
func Inspect(t reflect.Type) (*Plan, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, nil
	}
	p := &Plan{t: t}
	labels := map[string]string{}
	for _, sf := range reflect.VisibleFields(t) {
		if sf.Anonymous && sf.Type == redactableType && p.redact == nil {
			p.redact = sf.Index
		}
		tag, ok, err := ParseTag(sf)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", t, err)
		}
		if !ok {
			if err := noNestedTags(sf.Type, t, sf.Name, map[reflect.Type]bool{}); err != nil && !sf.Anonymous {
				return nil, err
			}
			continue
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("pii: %v.%s is tagged pii but not exported; export it (serdes only encode exported fields)", t, sf.Name)
		}
		if viaPointer(t, sf.Index) {
			return nil, fmt.Errorf("pii: %v.%s is tagged pii but reached through an embedded pointer; embed the struct by value", t, sf.Name)
		}
		f := field{index: sf.Index, name: sf.Name, label: tag.Label, subjKey: tag.Subject}
		switch {
		case sf.Type.Kind() == reflect.String:
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == bytesKind:
			f.bytes = true
		default:
			return nil, fmt.Errorf("pii: %v.%s has type %v; only string and []byte fields can be encrypted: keep the value in a string field (for a date, t.Format(time.DateOnly)) and tag that one", t, sf.Name, sf.Type)
		}
		subj, ok := t.FieldByName(tag.Subject)
		switch {
		case !ok:
			return nil, fmt.Errorf("pii: %v.%s names %q as the field with the data subject's ID, but %v has no such field; name a string field of the same struct", t, sf.Name, tag.Subject, t)
		case subj.Type.Kind() != reflect.String:
			return nil, fmt.Errorf("pii: %v.%s names %s as its subject field, which has type %v; the subject's ID must be a string field", t, sf.Name, tag.Subject, subj.Type)
		case !subj.IsExported() || viaPointer(t, subj.Index):
			return nil, fmt.Errorf("pii: subject field %v.%s must be exported and not reached through an embedded pointer", t, tag.Subject)
		}
		if _, tagged := subj.Tag.Lookup(TagName); tagged {
			return nil, fmt.Errorf("pii: %v.%s names %s as its subject field, which is tagged pii itself; the subject's ID is stored in plaintext (it finds the key), so it must not be personal data beyond an opaque ID", t, sf.Name, tag.Subject)
		}
		if other, dup := labels[f.label]; dup {
			return nil, fmt.Errorf("pii: %v.%s and %v.%s have the same label %q; give one another label= in its pii tag", t, other, t, sf.Name, f.label)
		}
		labels[f.label] = sf.Name
		f.subject = subj.Index
		p.fields = append(p.fields, f)
	}
	if len(p.fields) == 0 {
		return nil, nil
	}
	if p.redact == nil {
		return nil, fmt.Errorf("pii: %v has personal-data fields (%s) but does not embed pii.Redactable; embed it so that handlers can tell a redacted value from an empty one (pii.Redacted(v))", t, strings.Join(p.Fields(), ", "))
	}
	return p, nil
}

// viaPointer reports whether the field at index is reached through an
// embedded pointer.
func viaPointer(t reflect.Type, index []int) bool {
	for _, i := range index[:len(index)-1] {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Pointer {
			return true
		}
		t = f.Type
	}
	return false
}

// noNestedTags fails if t contains, below the top level, a struct field
// tagged pii, which Inspect does not encrypt.
func noNestedTags(t, top reflect.Type, path string, seen map[reflect.Type]bool) error {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return noNestedTags(t.Elem(), top, path, seen)
	case reflect.Struct:
		if seen[t] {
			return nil
		}
		seen[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			if _, ok := sf.Tag.Lookup(TagName); ok {
				return fmt.Errorf("pii: %v.%s.%s is tagged pii inside a nested value; only fields of the event struct itself (or of structs it embeds by value) can be encrypted: move the field up, or encrypt the nested value as a whole string", top, path, sf.Name)
			}
			if err := noNestedTags(sf.Type, top, path+"."+sf.Name, seen); err != nil {
				return err
			}
		}
	}
	return nil
}
