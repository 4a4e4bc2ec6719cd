package avro

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/internal/testenv"
)

// TestResolutionAgreesWithFastavro resolves the same payloads with this
// package's resolver and with fastavro (an independent implementation of
// the Avro specification's schema resolution) and compares the values.
// fastavro 1.13.1 is installed into a cache by the test (testenv.Python);
// the test skips, visibly, only when the machine has no python3 or cannot
// fetch it.
func TestResolutionAgreesWithFastavro(t *testing.T) {
	python := testenv.Python(t, "fastavro", "1.13.1") // the version crosscheck_test.go pins too
	rec := func(fields string) string {
		return fmt.Sprintf(`{"type":"record","name":"t.R","fields":[%s]}`, fields)
	}
	cases := []struct {
		name           string
		writer, reader string
		value          any // goavro native for the writer
	}{
		{"promotions",
			rec(`{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"long"},{"name":"d","type":"float"},{"name":"e","type":"string"},{"name":"f","type":"bytes"},{"name":"g","type":"int"}`),
			rec(`{"name":"a","type":"long"},{"name":"b","type":"double"},{"name":"c","type":"double"},{"name":"d","type":"double"},{"name":"e","type":"bytes"},{"name":"f","type":"string"},{"name":"g","type":"float"}`),
			map[string]any{"a": int32(-7), "b": int32(1 << 30), "c": int64(1) << 52, "d": float32(1.5), "e": "héllo", "f": []byte("bytes"), "g": int32(-3)}},
		{"added and removed fields",
			rec(`{"name":"keep","type":"string"},{"name":"gone","type":{"type":"array","items":"int"}}`),
			rec(`{"name":"keep","type":"string"},{"name":"n","type":"int","default":42},{"name":"s","type":["null","string"],"default":null},{"name":"l","type":{"type":"array","items":"long"},"default":[1,2]},{"name":"m","type":{"type":"map","values":"string"},"default":{"k":"v"}},{"name":"r","type":{"type":"record","name":"Sub","fields":[{"name":"x","type":"double"}]},"default":{"x":2.5}},{"name":"e","type":{"type":"enum","name":"E","symbols":["P","Q"]},"default":"Q"}`),
			map[string]any{"keep": "k", "gone": []any{int32(1)}}},
		{"enum default for unknown symbol",
			rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","NEW"]}},{"name":"f","type":{"type":"enum","name":"F","symbols":["X","Y"]}}`),
			rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["B","A"],"default":"A"}},{"name":"f","type":{"type":"enum","name":"F","symbols":["Y","X"]}}`),
			map[string]any{"e": "NEW", "f": "X"}},
		{"unions",
			rec(`{"name":"a","type":["null","int"]},{"name":"b","type":"int"},{"name":"c","type":["int","string"]},{"name":"d","type":["null","string"]},{"name":"e","type":["int","string"]}`),
			rec(`{"name":"a","type":["null","long","string"]},{"name":"b","type":["null","long"]},{"name":"c","type":["string","long"]},{"name":"d","type":["null","string"]},{"name":"e","type":["null","double","string"]}`),
			map[string]any{"a": map[string]any{"int": int32(5)}, "b": int32(6), "c": map[string]any{"string": "s"}, "d": nil, "e": map[string]any{"int": int32(8)}}},
		{"aliases and nesting",
			`{"type":"record","name":"t.Old","fields":[{"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"amt","type":"int"}]}},{"name":"xs","type":{"type":"array","items":"In"}},{"name":"m","type":{"type":"map","values":"int"}}]}`,
			`{"type":"record","name":"t.New","aliases":["t.Old"],"fields":[{"name":"inner","type":{"type":"record","name":"In","fields":[{"name":"amount","type":"long","aliases":["amt"]},{"name":"cur","type":"string","default":"EUR"}]}},{"name":"xs","type":{"type":"array","items":"In"}},{"name":"m","type":{"type":"map","values":"double"}}]}`,
			map[string]any{"inner": map[string]any{"amt": int32(3)}, "xs": []any{map[string]any{"amt": int32(4)}}, "m": map[string]any{"k": int32(9)}}},
		// (fastavro returns defaults of logical-type fields without the
		// logical conversion, so the added field here is a plain long.)
		{"logical types",
			rec(`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},{"name":"u","type":{"type":"string","logicalType":"uuid"}}`),
			rec(`{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"us","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},{"name":"u","type":{"type":"string","logicalType":"uuid"}},{"name":"new","type":"long","default":1000}`),
			map[string]any{"ts": time.UnixMilli(-1234567).UTC(), "us": time.UnixMicro(1700000000123456).UTC(), "d": big.NewRat(-12345, 100), "u": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}},
	}
	type vector struct {
		Name         string `json:"name"`
		WriterSchema string `json:"writer_schema"`
		ReaderSchema string `json:"reader_schema"`
		PayloadHex   string `json:"payload_hex"`
	}
	var vectors []vector
	want := map[string]any{}
	for _, c := range cases {
		codec, err := goavro.NewCodec(c.writer)
		require.NoError(t, err, c.name)
		body, err := codec.BinaryFromNative(nil, c.value)
		require.NoError(t, err, c.name)
		w, err := ParseSchema(c.writer)
		require.NoError(t, err)
		r, err := ParseSchema(c.reader)
		require.NoError(t, err)
		fn, err := compileResolver(w, r, false)
		require.NoError(t, err, c.name)
		native, _, err := codec.NativeFromBinary(body)
		require.NoError(t, err)
		if fn != nil {
			native, err = fn(native)
			require.NoError(t, err, c.name)
		}
		want[c.name] = jsonRoundTrip(t, normalize(r, native))
		vectors = append(vectors, vector{c.name, c.writer, c.reader, "0000000000" + hex.EncodeToString(body)})
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	b, err := json.Marshal(vectors)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(in, b, 0o600))
	msg, err := python("testdata/crosscheck.py", in, out).CombinedOutput()
	require.NoError(t, err, "fastavro: %s", msg)
	var res struct {
		Decoded []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"decoded"`
	}
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &res))
	require.Len(t, res.Decoded, len(cases))
	for _, d := range res.Decoded {
		require.Equal(t, d.Value, want[d.Name], "case %q: fastavro (expected) vs ours (actual)", d.Name)
	}
}

// normalize turns a goavro native value of schema s into the form
// testdata/crosscheck.py prints for fastavro's values.
func normalize(s *Schema, v any) any {
	switch s.Kind {
	case Union:
		if v == nil {
			return nil
		}
		for k, e := range v.(map[string]any) {
			for _, b := range s.Branches {
				if b.unionKey() == k {
					return normalize(b, e)
				}
			}
		}
		return fmt.Sprintf("unknown branch in %v", v)
	case Record:
		m := v.(map[string]any)
		out := map[string]any{}
		for _, f := range s.Fields {
			out[f.Name] = normalize(f.Type, m[f.Name])
		}
		return out
	case Array:
		out := []any{}
		for _, e := range v.([]any) {
			out = append(out, normalize(s.Items, e))
		}
		return out
	case Map:
		out := map[string]any{}
		for k, e := range v.(map[string]any) {
			out[k] = normalize(s.Values, e)
		}
		return out
	case Bytes, Fixed:
		if r, ok := v.(*big.Rat); ok {
			return r.FloatString(s.Scale)
		}
		return hex.EncodeToString(v.([]byte))
	case Long:
		if tm, ok := v.(time.Time); ok {
			return tm.UnixMicro()
		}
	case Float:
		return float64(v.(float32))
	}
	return v
}

func jsonRoundTrip(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}
