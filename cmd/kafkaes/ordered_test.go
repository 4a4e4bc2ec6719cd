package main

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/kafkaes/kafkaes/serde/avro"
)

func TestOrderFields(t *testing.T) {
	const schema = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"zeta","type":"string"},
		{"name":"id","type":{"type":"string","logicalType":"uuid"}},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"attrs","type":{"type":"map","values":"string"}}]}}},
		{"name":"ship","type":["null","Line","string"],"default":null},
		{"name":"raw","type":"bytes"},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
		{"name":"alpha","type":"double"}]}`
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	line := map[string]any{"sku": "x-1", "qty": int32(2), "attrs": map[string]any{"b": "2", "a": "<1>"}}
	native := map[string]any{
		"zeta": "z", "id": "7d444840-9dc0-41d1-b245-5ffdce74fad2", "at": time.UnixMilli(1764000000123).UTC(),
		"price": big.NewRat(12345, 100), "lines": []any{line, line},
		"ship": goavro.Union("shop.Line", line), "raw": []byte{0, 1, 0xff}, "kind": "B", "alpha": 1.5,
	}
	bin, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	decoded, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	text, err := codec.TextualFromNative(nil, decoded)
	if err != nil {
		t.Fatal(err)
	}
	s, err := avro.ParseSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	got := string(orderFields(s, text))
	if !sameJSON(got, string(text)) {
		t.Fatalf("ordering changed the value:\n%s\nfrom\n%s", got, text)
	}
	last := -1
	for _, f := range []string{`"zeta"`, `"id"`, `"at"`, `"price"`, `"lines"`, `"ship"`, `"raw"`, `"kind"`, `"alpha"`} {
		i := strings.Index(got, f+":")
		if i < last {
			t.Fatalf("field %s out of schema order in %s", f, got)
		}
		last = i
	}
	if !strings.Contains(got, `{"sku":"x-1","qty":2,"attrs":{"a":"<1>","b":"2"}}`) || !strings.Contains(got, `"ship":{"shop.Line":{"sku"`) {
		t.Errorf("nested records, maps or unions not ordered: %s", got)
	}
	// Text that is not JSON, or a schema that does not fit, is left alone.
	if got := string(orderFields(s, []byte("not json"))); got != "not json" {
		t.Errorf("non-JSON text changed to %q", got)
	}
	if got := string(orderFields(s, []byte(`[1,2]`))); got != `[1,2]` {
		t.Errorf("mismatched text changed to %q", got)
	}
}
