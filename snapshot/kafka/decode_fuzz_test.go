package kafka

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/kafkafetch"
)

// FuzzDecode feeds arbitrary keys, values and header values to the record
// decoder: it must never panic, and what it accepts must be a valid
// snapshot.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("acct-1"), []byte(`{"b":1}`), []byte("12"), []byte("bank.Account"), []byte("0"), []byte("2026-11-24T06:00:00Z"), []byte("id"))
	f.Add([]byte(""), []byte(nil), []byte("-1"), []byte(""), []byte("x"), []byte("now"), []byte(""))
	f.Add([]byte("k"), []byte{0, 0, 0, 0, 1}, []byte("9223372036854775808"), []byte("t"), []byte("99999999999999999999"), []byte(""), []byte("\xff"))
	f.Fuzz(func(t *testing.T, key, value, version, typ, schema, ts, eventID []byte) {
		rec := kafkafetch.Record{Offset: 7, Key: key, Value: value, Timestamp: time.Unix(0, 0), Headers: []*sarama.RecordHeader{
			{Key: []byte(HeaderVersion), Value: version}, {Key: []byte(HeaderType), Value: typ},
			{Key: []byte(HeaderSchemaVersion), Value: schema}, {Key: []byte(HeaderTime), Value: ts},
			{Key: []byte(HeaderEventID), Value: eventID}, nil,
		}}
		snap, err := decode(rec)
		if err != nil {
			return
		}
		if err := snap.Validate(); err != nil {
			t.Fatalf("decode accepted an invalid snapshot: %v", err)
		}
		if snap.StreamID != string(key) || string(snap.Data) != string(value) {
			t.Fatalf("decode changed the key or value")
		}
	})
}
