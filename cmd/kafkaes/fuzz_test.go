package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/serde/avro"
)

// FuzzRecordChecks feeds arbitrary records to what stream, tail and verify
// do with a record: they must never panic, stream and tail must print valid
// JSON, and verify must either accept the record as an event or report it.
func FuzzRecordChecks(f *testing.F) {
	ev := event("acc-1", 1, "id-1", `{"a":1}`)
	var blob []byte
	for i, h := range ev.headers {
		if i > 0 {
			blob = append(blob, 0)
		}
		blob = append(append(append(blob, h.Key...), 0), h.Value...)
	}
	f.Add(ev.key, ev.value, blob)
	f.Add([]byte("k"), []byte{0, 0, 0, 0, 1, 2}, []byte("es.version\x001"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add([]byte{0xff}, []byte("{"), []byte("es.version\x0001\x00es.id\x00x\x00es.type\x00T"))
	s, err := avro.ParseSchema(`{"type":"record","name":"R","fields":[{"name":"a","type":["null",{"type":"map","values":{"type":"array","items":"long"}}]}]}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value, hblob []byte) {
		var hs []*sarama.RecordHeader
		if len(hblob) > 0 {
			parts := bytes.Split(hblob, []byte{0})
			for i := 0; i < len(parts); i += 2 {
				h := &sarama.RecordHeader{Key: parts[i]}
				if i+1 < len(parts) {
					h.Value = parts[i+1]
				}
				hs = append(hs, h)
			}
		}
		r := rec{partition: 1, offset: 7, key: key, value: value, headers: hs, ts: time.Unix(0, 0)}

		var out bytes.Buffer
		p := newPrinter(&out, "t", nil)
		if err := p.print(r); err != nil {
			t.Fatalf("print: %v", err)
		}
		var l eventLine
		if err := json.Unmarshal(out.Bytes(), &l); err != nil {
			t.Fatalf("printed line is not JSON: %v\n%s", err, out.Bytes())
		}
		if l.Error == "" && l.Version < 1 {
			t.Fatalf("accepted a record without a version: %s", out.Bytes())
		}

		reported := 0
		v := &verifier{topic: "t", nparts: 2, streams: map[partStream]*streamState{}, counts: map[string]int{},
			report: func(violation) { reported++ }}
		if err := v.check(r); err != nil {
			t.Fatalf("check: %v", err)
		}
		if (l.Error != "") != (v.counts[vCorrupt] == 1) {
			t.Fatalf("stream says error %q, verify counts %v", l.Error, v.counts)
		}
		counted := 0
		for _, n := range v.counts {
			counted += n
		}
		if counted != reported {
			t.Fatalf("violations counted %v but %d reported", v.counts, reported)
		}

		// Rendering arbitrary JSON values with the schema never panics
		// and gives valid JSON.
		var jv any
		if json.Unmarshal(value, &jv) == nil {
			var buf bytes.Buffer
			render(&buf, s, jv)
			if !json.Valid(buf.Bytes()) {
				t.Fatalf("render turned %q into invalid JSON %q", value, buf.Bytes())
			}
		}
	})
}
