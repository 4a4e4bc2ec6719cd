package avro

import (
	"strings"
	"testing"
)

func TestSameSchema(t *testing.T) {
	const derived = `{"type":"record","name":"bank.Moved","fields":[` +
		`{"name":"from","type":{"type":"record","name":"bank.Address","fields":[{"name":"street","type":"string"}]}},` +
		`{"name":"prev","type":["null","bank.Address"],"default":null},` +
		`{"name":"n","type":"double","default":1},` +
		`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},` +
		`{"name":"next","type":["null","bank.Moved"],"default":null}]}`
	for _, tc := range []struct {
		name  string
		other string
		same  bool
	}{
		{"identical", derived, true},
		{"relative names, namespace key, wrapped primitive, 1.0, doc", `{"type":"record","name":"Moved","namespace":"bank","doc":"d","fields":[` +
			`{"name":"from","type":{"type":"record","name":"Address","fields":[{"name":"street","type":{"type":"string"}}]}},` +
			`{"name":"prev","type":["null","Address"],"default":null},` +
			`{"name":"n","type":"double","default":1.0},` +
			`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},` +
			`{"name":"next","type":["null","Moved"],"default":null}]}`, true},
		{"other namespace", `{"type":"record","name":"Moved","namespace":"shop","fields":[` +
			`{"name":"from","type":{"type":"record","name":"Address","fields":[{"name":"street","type":"string"}]}},` +
			`{"name":"prev","type":["null","Address"],"default":null},` +
			`{"name":"n","type":"double","default":1},` +
			`{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},` +
			`{"name":"next","type":["null","Moved"],"default":null}]}`, false},
		{"other default", replace(derived, `"default":1}`, `"default":2}`), false},
		{"default dropped", replace(derived, `{"name":"n","type":"double","default":1}`, `{"name":"n","type":"double"}`), false},
		{"no logical type", replace(derived, `{"type":"long","logicalType":"timestamp-millis"}`, `"long"`), false},
		{"field order changed", replace(replace(derived, `{"name":"n","type":"double","default":1},`, ``), `{"name":"next"`, `{"name":"n","type":"double","default":1},{"name":"next"`), false},
		{"alias added", replace(derived, `{"name":"n",`, `{"name":"n","aliases":["m"],`), false},
		{"not a schema", `{"type":"record"}`, false},
	} {
		if got := sameSchema(derived, tc.other); got != tc.same {
			t.Errorf("%s: sameSchema = %v, want %v\n%s", tc.name, got, tc.same, tc.other)
		}
		if got := sameSchema(tc.other, derived); got != tc.same {
			t.Errorf("%s (swapped): sameSchema = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// replace replaces the first old in s, which must be there.
func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not in " + s)
	}
	return strings.Replace(s, old, new, 1)
}
