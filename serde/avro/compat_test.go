package avro_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

func rec(fields string) string {
	return fmt.Sprintf(`{"type":"record","name":"ns.E","fields":[%s]}`, fields)
}

func TestCanRead(t *testing.T) {
	for _, tc := range []struct {
		name           string
		reader, writer string
		rule           string // "" = compatible
	}{
		{"same", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"}`), ""},
		{"int to long", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`), ""},
		{"int to double", rec(`{"name":"a","type":"double"}`), rec(`{"name":"a","type":"int"}`), ""},
		{"long to float", rec(`{"name":"a","type":"float"}`), rec(`{"name":"a","type":"long"}`), ""},
		{"float to double", rec(`{"name":"a","type":"double"}`), rec(`{"name":"a","type":"float"}`), ""},
		{"long to int", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), "reader type int cannot read writer type long"},
		{"double to float", rec(`{"name":"a","type":"float"}`), rec(`{"name":"a","type":"double"}`), "reader type float cannot read writer type double"},
		{"string to bytes", rec(`{"name":"a","type":"bytes"}`), rec(`{"name":"a","type":"string"}`), ""},
		{"bytes to string", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":"bytes"}`), ""},
		{"added with default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}`), rec(`{"name":"a","type":"int"}`), ""},
		{"added without default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), rec(`{"name":"a","type":"int"}`), `field "b" is not in the writer's schema and has no default`},
		{"removed", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), ""},
		{"renamed with alias", rec(`{"name":"c","type":"int","aliases":["a"]}`), rec(`{"name":"a","type":"int"}`), ""},
		{"renamed without alias", rec(`{"name":"c","type":"int"}`), rec(`{"name":"a","type":"int"}`), `field "c" is not in the writer's schema`},
		{"record renamed", `{"type":"record","name":"ns.F","fields":[]}`, rec(``), "names differ"},
		{"record renamed with alias", `{"type":"record","name":"ns.F","aliases":["E"],"fields":[]}`, rec(``), ""},
		{"enum symbol added", rec(`{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B","C"]}}`), rec(`{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B"]}}`), ""},
		{"enum symbol removed", rec(`{"name":"e","type":{"type":"enum","name":"K","symbols":["A"]}}`), rec(`{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B"]}}`), "enum symbols B are not in the reader's enum"},
		{"enum symbol removed with default", rec(`{"name":"e","type":{"type":"enum","name":"K","symbols":["A"],"default":"A"}}`), rec(`{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B"]}}`), ""},
		{"nullable reader", rec(`{"name":"a","type":["null","int"]}`), rec(`{"name":"a","type":"int"}`), ""},
		{"nullable reader promotes", rec(`{"name":"a","type":["null","long"]}`), rec(`{"name":"a","type":"int"}`), ""},
		{"nullable writer", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":["null","int"]}`), "writer union branch null cannot be read"},
		{"union branch added", rec(`{"name":"a","type":["null","int","string"]}`), rec(`{"name":"a","type":["null","int"]}`), ""},
		{"union branch removed", rec(`{"name":"a","type":["null","int"]}`), rec(`{"name":"a","type":["null","int","string"]}`), "writer union branch string cannot be read"},
		{"array items promoted", rec(`{"name":"a","type":{"type":"array","items":"long"}}`), rec(`{"name":"a","type":{"type":"array","items":"int"}}`), ""},
		{"map values narrowed", rec(`{"name":"a","type":{"type":"map","values":"int"}}`), rec(`{"name":"a","type":{"type":"map","values":"long"}}`), "reader type int cannot read writer type long"},
		{"fixed size", rec(`{"name":"a","type":{"type":"fixed","name":"F","size":4}}`), rec(`{"name":"a","type":{"type":"fixed","name":"F","size":8}}`), "size"},
		{"decimal scale", rec(`{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":4}}`), rec(`{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`), "decimal changed"},
		{"nested record field", rec(`{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}}`), rec(`{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"}]}}`), `E.n.y: field "y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := avro.CanRead(tc.reader, tc.writer)
			if tc.rule == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, avro.ErrIncompatible)
			require.ErrorContains(t, err, tc.rule)
		})
	}
}

func TestCheckCompatibilityLevels(t *testing.T) {
	v1 := rec(`{"name":"a","type":"int"}`)
	v2 := rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`) // add with default
	v3 := rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`)              // drop the default
	addNoDefault := rec(`{"name":"a","type":"int"},{"name":"c","type":"string"}`)
	removeField := rec(`{"name":"b","type":"string","default":""}`)

	ok := func(level avro.Compatibility, n string, old ...string) {
		t.Helper()
		require.NoError(t, avro.CheckCompatibility(level, n, old...), "%s", level)
	}
	bad := func(level avro.Compatibility, version int, n string, old ...string) {
		t.Helper()
		err := avro.CheckCompatibility(level, n, old...)
		var ie *avro.IncompatibleError
		require.True(t, errors.As(err, &ie), "%s: want incompatible, got %v", level, err)
		require.Equal(t, level, ie.Level)
		require.Equal(t, version, ie.Version)
	}
	ok(avro.Backward, v2, v1)
	ok(avro.Forward, v2, v1)
	ok(avro.Full, v2, v1)
	bad(avro.Backward, 1, addNoDefault, v1)
	ok(avro.Forward, addNoDefault, v1) // old readers ignore the new field
	bad(avro.Full, 1, addNoDefault, v1)
	ok(avro.Backward, removeField, v2)
	bad(avro.Forward, 1, removeField, v2) // old reader needs "a", which has no default

	// v3 can read v2 (b exists) but not v1 (b has no default): only the
	// transitive check sees it.
	ok(avro.Backward, v3, v1, v2)
	bad(avro.BackwardTransitive, 1, v3, v1, v2)
	bad(avro.FullTransitive, 1, v3, v1, v2)
	ok(avro.None, addNoDefault, v1)
	require.ErrorContains(t, avro.CheckCompatibility("SIDEWAYS", v1, v1), "unknown compatibility level")
	require.ErrorContains(t, avro.CheckCompatibility(avro.Backward, `{"type":"record"}`, v1), "new schema")
}

func TestRequireCompatibleHelper(t *testing.T) {
	type Ev struct {
		A int64  `avro:"a"`
		B string `avro:"b,default=x"`
	}
	s := avrotest.SchemaOf[Ev](t, "ns.E")
	require.JSONEq(t, rec(`{"name":"a","type":"long"},{"name":"b","type":"string","default":"x"}`), s)
	avrotest.RequireCompatible(t, avro.FullTransitive, s, rec(`{"name":"a","type":"long"}`))

	ft := &fakeT{TB: t}
	avrotest.RequireCompatible(ft, avro.Backward, rec(`{"name":"z","type":"long"}`), s)
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, `field "z"`)
}

type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
}
