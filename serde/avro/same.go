package avro

import (
	"encoding/json"
	"math/big"
	"slices"
)

// sameSchema reports whether two schema texts define the same schema:
// the same types with the same full names, fields, defaults, aliases,
// logical types, symbols and sizes. Registries store a schema in their own
// text form (Apicurio, Karapace and Confluent's Java parser write names
// relative to the enclosing namespace, drop or move "namespace" keys, and
// unwrap {"type":"string"}), so comparing texts would take a registered
// schema for a new one. Unlike the Parsing Canonical Form it keeps
// defaults, aliases and logical types; "doc" and unknown properties are
// ignored. Texts that do not parse are never the same.
func sameSchema(a, b string) bool {
	if a == b {
		return true
	}
	sa, err := ParseSchema(a)
	if err != nil {
		return false
	}
	sb, err := ParseSchema(b)
	if err != nil {
		return false
	}
	return equalSchema(sa, sb, map[string]bool{})
}

// equalSchema compares two parsed schemas; seen holds the named types
// already being compared (recursive types).
func equalSchema(a, b *Schema, seen map[string]bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || a.Name != b.Name || a.Logical != b.Logical ||
		a.Precision != b.Precision || a.Scale != b.Scale || a.Size != b.Size ||
		a.EnumDefault != b.EnumDefault || !slices.Equal(a.Aliases, b.Aliases) ||
		!slices.Equal(a.Symbols, b.Symbols) || len(a.Fields) != len(b.Fields) ||
		len(a.Branches) != len(b.Branches) {
		return false
	}
	if a.isNamed() {
		if seen[a.Name] {
			return true // compared further up; a name is defined once per schema
		}
		seen[a.Name] = true
	}
	for i, fa := range a.Fields {
		fb := b.Fields[i]
		if fa.Name != fb.Name || !slices.Equal(fa.Aliases, fb.Aliases) || fa.HasDefault != fb.HasDefault ||
			(fa.HasDefault && !equalJSON(fa.Default, fb.Default)) || !equalSchema(fa.Type, fb.Type, seen) {
			return false
		}
	}
	for i := range a.Branches {
		if !equalSchema(a.Branches[i], b.Branches[i], seen) {
			return false
		}
	}
	return equalSchema(a.Items, b.Items, seen) && equalSchema(a.Values, b.Values, seen)
}

// equalJSON compares two JSON values as decoded with UseNumber; numbers
// compare by value (1, 1.0 and 1e0 are equal).
func equalJSON(a, b any) bool {
	switch va := a.(type) {
	case json.Number:
		vb, ok := b.(json.Number)
		if !ok {
			return false
		}
		ra, oka := new(big.Rat).SetString(string(va))
		rb, okb := new(big.Rat).SetString(string(vb))
		return oka && okb && ra.Cmp(rb) == 0
	case []any:
		vb, ok := b.([]any)
		if !ok || len(va) != len(vb) {
			return false
		}
		for i := range va {
			if !equalJSON(va[i], vb[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		vb, ok := b.(map[string]any)
		if !ok || len(va) != len(vb) {
			return false
		}
		for k, x := range va {
			y, ok := vb[k]
			if !ok || !equalJSON(x, y) {
				return false
			}
		}
		return true
	default:
		return a == b // string, bool, nil
	}
}
