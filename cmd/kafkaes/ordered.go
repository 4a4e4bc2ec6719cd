package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/kafkaes/kafkaes/serde/avro"
)

// orderFields rewrites Avro JSON text (goavro writes record fields in map
// order) so that record fields come in schema order, which makes lines of
// stream and tail easy to read and compare. Values are kept exactly
// (numbers are not re-formatted). Anything that does not match the schema
// is left in encoding/json's order rather than failing.
func orderFields(s *avro.Schema, text []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return text
	}
	var buf bytes.Buffer
	writeOrdered(&buf, s, v)
	return buf.Bytes()
}

func writeOrdered(buf *bytes.Buffer, s *avro.Schema, v any) {
	switch {
	case s == nil:
	case s.Kind == avro.Record:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		buf.WriteByte('{')
		n := 0
		for _, f := range s.Fields {
			fv, ok := m[f.Name]
			if !ok {
				continue
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			writeJSON(buf, f.Name)
			buf.WriteByte(':')
			writeOrdered(buf, f.Type, fv)
		}
		for k, fv := range m { // fields the schema does not name (none, normally)
			if hasField(s, k) {
				continue
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			writeJSON(buf, k)
			buf.WriteByte(':')
			writeJSON(buf, fv)
		}
		buf.WriteByte('}')
		return
	case s.Kind == avro.Union:
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			break
		}
		for key, bv := range m {
			for _, b := range s.Branches {
				if b.Name == key || (b.Name == "" && (b.Kind.String() == key || strings.HasPrefix(key, b.Kind.String()+"."))) || (b.Name != "" && b.ShortName() == key) {
					buf.WriteByte('{')
					writeJSON(buf, key)
					buf.WriteByte(':')
					writeOrdered(buf, b, bv)
					buf.WriteByte('}')
					return
				}
			}
		}
	case s.Kind == avro.Array:
		a, ok := v.([]any)
		if !ok {
			break
		}
		buf.WriteByte('[')
		for i, e := range a {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeOrdered(buf, s.Items, e)
		}
		buf.WriteByte(']')
		return
	case s.Kind == avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		buf.WriteByte('{')
		n := 0
		for _, k := range sortedStrings(m) {
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			writeJSON(buf, k)
			buf.WriteByte(':')
			writeOrdered(buf, s.Values, m[k])
		}
		buf.WriteByte('}')
		return
	}
	writeJSON(buf, v)
}

func hasField(s *avro.Schema, name string) bool {
	for _, f := range s.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

func sortedStrings(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// writeJSON writes v as compact JSON without HTML escaping.
func writeJSON(buf *bytes.Buffer, v any) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	if n := buf.Len(); n > 0 && buf.Bytes()[n-1] == '\n' {
		buf.Truncate(n - 1)
	}
}
