package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/kafkaes/kafkaes/serde/avro"
)

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

// plural returns "1 event" or "n events".
func plural(n int, one, many string) string { return plural64(int64(n), one, many) }

// plural64 is plural for an int64 count.
func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}
