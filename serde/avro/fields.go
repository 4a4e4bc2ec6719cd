package avro

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// goField is a Go struct field that holds an Avro record field: a field of
// the struct itself or one promoted from an embedded struct.
type goField struct {
	sf     reflect.StructField // the field as declared (in the embedded struct, if promoted)
	ti     tagInfo
	index  []int  // for reflect.Value.FieldByIndex
	goName string // the Go path, e.g. "Base.CreatedAt", for messages
	depth  int    // embedding depth: 0 for the struct's own fields
	tagged bool   // the name comes from an `avro:"name"` tag
}

// of returns f's field in v, a value of the struct type f belongs to.
func (f *goField) of(v reflect.Value) reflect.Value {
	if len(f.index) == 1 {
		return v.Field(f.index[0])
	}
	return v.FieldByIndex(f.index)
}

// goFields returns the Go fields of struct type t that map to Avro record
// fields, in declaration order, flattening embedded structs the way
// encoding/json does:
//
//   - an embedded struct (or an unexported embedded struct type) without an
//     `avro:"name"` tag contributes its exported fields as if they were
//     declared in t, recursively; one with a name tag is an ordinary field
//     (a nested record) of that name; `avro:"-"` skips it;
//   - an embedded struct without exported fields (such as aggregate.Root)
//     contributes nothing;
//   - when several fields map to one Avro name, the shallowest wins, and at
//     equal depth the one named by a tag; unlike encoding/json, which then
//     drops all of them silently, a remaining tie is an error, because it
//     would lose data;
//   - an embedded pointer to a struct with exported fields is rejected (a
//     decode would have to allocate it, and nil cannot be told from empty):
//     embed the struct by value or give it a field name.
//
// Embedded time.Time and big.Rat are ordinary fields named after the type.
func goFields(t reflect.Type) ([]*goField, error) {
	return flatten(t, map[reflect.Type]bool{})
}

func flatten(t reflect.Type, active map[reflect.Type]bool) ([]*goField, error) {
	if active[t] {
		return nil, nil // a struct embedding itself through a pointer: nothing more to promote
	}
	active[t] = true
	defer delete(active, t)
	type level struct {
		t     reflect.Type
		index []int
		path  string
	}
	var all []*goField
	visited := map[reflect.Type]bool{}
	current := []level{{t: t}}
	for depth := 0; len(current) > 0; depth++ {
		var next []level
		for _, lv := range current {
			if visited[lv.t] {
				continue // promoted at a shallower depth already (encoding/json does the same)
			}
			visited[lv.t] = true
			for i := 0; i < lv.t.NumField(); i++ {
				sf := lv.t.Field(i)
				index := append(slices.Clone(lv.index), i)
				goName := lv.path + sf.Name
				ft := sf.Type
				if sf.Anonymous && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				embeddedStruct := sf.Anonymous && ft.Kind() == reflect.Struct && ft != timeType && ft != ratType
				if !sf.IsExported() && !embeddedStruct {
					continue
				}
				ti, err := parseTag(sf)
				if err != nil {
					return nil, err
				}
				if ti.skip {
					continue
				}
				tagged := tagName(sf) != ""
				if embeddedStruct && !tagged {
					if sf.Type.Kind() == reflect.Pointer {
						inner, err := flatten(ft, active)
						if err != nil {
							return nil, err
						}
						if len(inner) > 0 {
							return nil, fmt.Errorf("embedded pointer %s in %v: embedding a pointer to a struct with exported fields is not supported; embed the struct by value, or give the field a name", goName, t)
						}
						continue
					}
					next = append(next, level{t: ft, index: index, path: goName + "."})
					continue
				}
				if !sf.IsExported() {
					continue // an unexported embedded struct with a name tag: encoding/json ignores it too
				}
				all = append(all, &goField{sf: sf, ti: ti, index: index, goName: goName, depth: depth, tagged: tagged})
			}
		}
		current = next
	}
	return dominant(t, all)
}

// dominant keeps, per Avro name, the field that wins (see goFields), in
// declaration order.
func dominant(t reflect.Type, all []*goField) ([]*goField, error) {
	byName := map[string][]*goField{}
	for _, f := range all {
		byName[f.ti.name] = append(byName[f.ti.name], f)
	}
	out := make([]*goField, 0, len(all))
	for _, f := range all {
		fs := byName[f.ti.name]
		if len(fs) == 1 {
			out = append(out, f)
			continue
		}
		win, err := winner(fs)
		if err != nil {
			return nil, fmt.Errorf("the Go type %v: %w", t, err)
		}
		if win == f {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *goField) int { return slices.Compare(a.index, b.index) })
	return out, nil
}

func winner(fs []*goField) (*goField, error) {
	minDepth := fs[0].depth
	for _, f := range fs {
		minDepth = min(minDepth, f.depth)
	}
	var top, tagged []*goField
	for _, f := range fs {
		if f.depth == minDepth {
			top = append(top, f)
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
	}
	switch {
	case len(top) == 1:
		return top[0], nil
	case len(tagged) == 1:
		return tagged[0], nil
	}
	names := make([]string, len(top))
	for i, f := range top {
		names[i] = f.goName
	}
	all := "both"
	if len(names) > 2 {
		all = "all"
	}
	return nil, fmt.Errorf("the Go fields %s %s map to Avro field %q at the same embedding depth; rename one with an `avro:\"name\"` tag", strings.Join(names, " and "), all, fs[0].ti.name)
}

// tagName returns the name part of f's avro tag ("" when there is none).
func tagName(f reflect.StructField) string {
	tag, ok := f.Tag.Lookup("avro")
	if !ok || tag == "-" {
		return ""
	}
	if i := strings.Index(tag, "default="); i >= 0 {
		tag = tag[:i]
	}
	name, _, _ := strings.Cut(tag, ",")
	return name
}

// fieldIndex maps Avro field names to the Go fields that hold them.
type fieldIndex map[string]*goField

// goFieldIndex maps the Avro names of struct type t's fields (see
// goFields) to the Go fields. It fails on an invalid tag or on two Go
// fields mapping to one Avro field.
func goFieldIndex(t reflect.Type) (fieldIndex, error) {
	fs, err := goFields(t)
	if err != nil {
		return nil, err
	}
	m := make(fieldIndex, len(fs))
	for _, f := range fs {
		m[f.ti.name] = f
	}
	return m, nil
}

// lookup returns the Go field that holds the Avro field f, found by f's
// name or else by one of its aliases (former names).
func (m fieldIndex) lookup(f *Field) (*goField, bool) {
	if g, ok := m[f.Name]; ok {
		return g, true
	}
	for _, a := range f.Aliases {
		if g, ok := m[a]; ok {
			return g, true
		}
	}
	return nil, false
}
