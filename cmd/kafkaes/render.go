package main

import (
	"bytes"
	"encoding/base64"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/kafkaes/kafkaes/serde/avro"
)

// render writes a value decoded by goavro (its "native" form) as JSON a
// person can read, guided by the writer's schema s (nil if it did not
// parse):
//
//   - record fields in schema order, map keys sorted;
//   - unions unwrapped: the branch's value, not {"type": value};
//   - decimals (*big.Rat) as strings with the schema's scale ("7.07"), so
//     that no digit is lost to a float;
//   - timestamp-millis/micros as RFC 3339 UTC times, dates as 2006-01-02,
//     time-of-day as durations ("1h2m3s");
//   - bytes and fixed as base64, NaN and infinities as strings.
//
// This is not Avro's JSON encoding (which shows bytes as \u escapes and
// timestamps as numbers): it is for reading, not for feeding back to Avro.
func render(buf *bytes.Buffer, s *avro.Schema, v any) {
	if s != nil && s.Kind == avro.Union {
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for key, bv := range m {
				if b := unionBranch(s, key); b != nil {
					render(buf, b, bv)
					return
				}
			}
		}
		s = nil // a value that does not fit the union: render it as it is
	}
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case time.Time:
		if s != nil && s.Logical == "date" {
			writeJSON(buf, x.UTC().Format(time.DateOnly))
			return
		}
		writeJSON(buf, x.UTC().Format(time.RFC3339Nano))
	case time.Duration:
		writeJSON(buf, x.String())
	case *big.Rat:
		writeJSON(buf, decimalString(x, s))
	case []byte:
		writeJSON(buf, base64.StdEncoding.EncodeToString(x))
	case float64:
		writeFloat(buf, x)
	case float32:
		writeFloat(buf, float64(x))
	case []any:
		var items *avro.Schema
		if s != nil && s.Kind == avro.Array {
			items = s.Items
		}
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			render(buf, items, e)
		}
		buf.WriteByte(']')
	case map[string]any:
		renderMap(buf, s, x)
	default:
		writeJSON(buf, x)
	}
}

// renderMap writes a record (fields in schema order) or a map (keys
// sorted).
func renderMap(buf *bytes.Buffer, s *avro.Schema, m map[string]any) {
	buf.WriteByte('{')
	n := 0
	field := func(k string, fs *avro.Schema, fv any) {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		writeJSON(buf, k)
		buf.WriteByte(':')
		render(buf, fs, fv)
	}
	if s != nil && s.Kind == avro.Record {
		for _, f := range s.Fields {
			if fv, ok := m[f.Name]; ok {
				field(f.Name, f.Type, fv)
			}
		}
		for _, k := range sortedStrings(m) { // fields the schema does not name (none, normally)
			if !hasField(s, k) {
				field(k, nil, m[k])
			}
		}
	} else {
		var values *avro.Schema
		if s != nil && s.Kind == avro.Map {
			values = s.Values
		}
		for _, k := range sortedStrings(m) {
			field(k, values, m[k])
		}
	}
	buf.WriteByte('}')
}

// unionBranch returns the branch of union s that goavro's key names
// ("string", "bank.Money", "long.timestamp-millis"), or nil.
func unionBranch(s *avro.Schema, key string) *avro.Schema {
	for _, b := range s.Branches {
		switch {
		case b.Name != "" && (b.Name == key || b.ShortName() == key):
			return b
		case b.Name == "" && (b.Kind.String() == key || strings.HasPrefix(key, b.Kind.String()+".")):
			return b
		}
	}
	return nil
}

// decimalString formats a decimal with the schema's scale, or else with
// as many fraction digits as it needs (at most 18, then as a fraction).
func decimalString(r *big.Rat, s *avro.Schema) string {
	if s != nil && s.Logical == "decimal" {
		return r.FloatString(s.Scale)
	}
	for scale := 0; scale <= 18; scale++ {
		f := r.FloatString(scale)
		if back, ok := new(big.Rat).SetString(f); ok && back.Cmp(r) == 0 {
			return f
		}
	}
	return r.RatString()
}

func writeFloat(buf *bytes.Buffer, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		writeJSON(buf, formatSpecial(f))
		return
	}
	writeJSON(buf, f)
}

func formatSpecial(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	}
	return "-Infinity"
}
