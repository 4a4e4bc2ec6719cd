package main

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/kafkaes/kafkaes/serde/avro"
)

// Decoded Avro is shown as a person reads it: decimals as decimal strings,
// timestamps as RFC 3339, unions unwrapped, fields in schema order.
func TestRenderForPeople(t *testing.T) {
	const schema = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"zeta","type":"string"},
		{"name":"id","type":{"type":"string","logicalType":"uuid"}},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"at_us","type":{"type":"long","logicalType":"timestamp-micros"}},
		{"name":"day","type":{"type":"int","logicalType":"date"}},
		{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"even","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"attrs","type":{"type":"map","values":"string"}}]}}},
		{"name":"ship","type":["null","Line","string"],"default":null},
		{"name":"paid","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null},
		{"name":"none","type":["null","string"],"default":null},
		{"name":"raw","type":"bytes"},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
		{"name":"alpha","type":"double"},
		{"name":"nan","type":"double"}]}`
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 8, 15, 30, 123_000_000, time.UTC)
	line := map[string]any{"sku": "x-1", "qty": int32(2), "attrs": map[string]any{"b": "2", "a": "<1>"}}
	native := map[string]any{
		"zeta": "z", "id": "7d444840-9dc0-41d1-b245-5ffdce74fad2", "at": at, "at_us": at.Add(456 * time.Microsecond),
		"day": time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), "price": big.NewRat(707, 100), "even": big.NewRat(5, 1),
		"lines": []any{line}, "ship": goavro.Union("shop.Line", line), "paid": goavro.Union("long.timestamp-millis", at),
		"none": nil, "raw": []byte{0, 1, 0xff}, "kind": "B", "alpha": 1.5, "nan": math.NaN(),
	}
	bin, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	decoded, _, err := codec.NativeFromBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := avro.ParseSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	render(&buf, s, decoded)
	want := `{"zeta":"z","id":"7d444840-9dc0-41d1-b245-5ffdce74fad2","at":"2026-12-03T08:15:30.123Z","at_us":"2026-12-03T08:15:30.123456Z",` +
		`"day":"2026-12-03","price":"7.07","even":"5.00","lines":[{"sku":"x-1","qty":2,"attrs":{"a":"<1>","b":"2"}}],` +
		`"ship":{"sku":"x-1","qty":2,"attrs":{"a":"<1>","b":"2"}},"paid":"2026-12-03T08:15:30.123Z","none":null,` +
		`"raw":"AAH/","kind":"B","alpha":1.5,"nan":"NaN"}`
	if got := buf.String(); got != want {
		t.Fatalf("rendered\n%s\nwant\n%s", got, want)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatal("not valid JSON")
	}

	// Without a schema (it did not parse) the values still read well.
	buf.Reset()
	render(&buf, nil, map[string]any{"b": big.NewRat(1, 8), "a": at, "c": big.NewRat(1, 3)})
	if got, want := buf.String(), `{"a":"2026-12-03T08:15:30.123Z","b":"0.125","c":"1/3"}`; got != want {
		t.Fatalf("rendered without schema %s, want %s", got, want)
	}
}
