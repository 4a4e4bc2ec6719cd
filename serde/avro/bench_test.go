package avro_test

import (
	"context"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/kafkaes/kafkaes/internal/cputime"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// MoneyMoved is the 7-field event of BenchmarkSerde.
type MoneyMoved struct {
	ID       string    `avro:"id,uuid"`
	From     string    `avro:"from"`
	To       string    `avro:"to"`
	Cents    int64     `avro:"cents"`
	Currency string    `avro:"currency"`
	At       time.Time `avro:"at"`
	Note     *string   `avro:"note"`
}

// PatientTreated and PatientTreatedPII are the events of
// BenchmarkSerde/avro and BenchmarkSerde/avro-pii: the same fields, two of
// them (name, diagnosis) encrypted in the second.
type PatientTreated struct {
	PatientID string    `avro:"patientId"`
	Name      string    `avro:"name"`
	Diagnosis string    `avro:"diagnosis"`
	Ward      string    `avro:"ward"`
	Cents     int64     `avro:"cents"`
	At        time.Time `avro:"at"`
}

type PatientTreatedPII struct {
	pii.Redactable
	PatientID string    `avro:"patientId"`
	Name      string    `avro:"name" pii:"PatientID"`
	Diagnosis string    `avro:"diagnosis" pii:"PatientID"`
	Ward      string    `avro:"ward"`
	Cents     int64     `avro:"cents"`
	At        time.Time `avro:"at"`
}

func benchEvent() MoneyMoved {
	note := "rent"
	return MoneyMoved{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", From: "acc-1", To: "acc-2", Cents: 123456, Currency: "EUR", At: time.UnixMilli(1_700_000_000_123).UTC(), Note: &note}
}

// BenchmarkSerde compares encode+decode of one event: raw goavro (native
// map in and out, pre-built codec) against the kafkaes serde (Go struct to
// Confluent-framed bytes and back, registry cached).
//
//	go test -run '^$' -bench BenchmarkSerde -benchmem -count 5 ./serde/avro
func BenchmarkSerde(b *testing.B) {
	ctx := context.Background()
	ev := benchEvent()
	note := *ev.Note
	reg := serde.NewRegistry()
	serde.MustRegister[MoneyMoved](reg, "bank.MoneyMoved")
	client, _ := avrotest.Registry(b)
	s, err := avro.New(ctx, reg, client, "bench")
	if err != nil {
		b.Fatal(err)
	}
	schema, err := s.SchemaFor("bank.MoneyMoved")
	if err != nil {
		b.Fatal(err)
	}

	b.Run("raw-goavro", func(b *testing.B) {
		codec, err := goavro.NewCodec(schema)
		if err != nil {
			b.Fatal(err)
		}
		native := map[string]any{"id": ev.ID, "from": ev.From, "to": ev.To, "cents": ev.Cents, "currency": ev.Currency, "at": ev.At, "note": goavro.Union("string", note)}
		b.ReportAllocs()
		for b.Loop() {
			buf, err := codec.BinaryFromNative(nil, native)
			if err != nil {
				b.Fatal(err)
			}
			out, _, err := codec.NativeFromBinary(buf)
			if err != nil || out.(map[string]any)["cents"].(int64) != ev.Cents {
				b.Fatal(err)
			}
		}
	})
	// kafkaes-goavro-decoding: Unmarshal through goavro's native map and
	// the plan (WithGoavroDecoding), the path before the direct decoder.
	sg, err := avro.New(ctx, reg, client, "bench", avro.WithGoavroDecoding())
	if err != nil {
		b.Fatal(err)
	}
	// avro and avro-pii: the same event without and with two encrypted
	// string fields (key cached in a memory key store, as the Kafka key
	// store caches it). Besides ns/op they report cpu-ns/op.
	treated := PatientTreated{PatientID: "patient-0001", Name: "Grace Brewster Hopper", Diagnosis: "fractured left radius", Ward: "B2", Cents: 12000, At: ev.At}
	treatedPII := PatientTreatedPII{PatientID: treated.PatientID, Name: treated.Name, Diagnosis: treated.Diagnosis, Ward: treated.Ward, Cents: treated.Cents, At: treated.At}
	preg := serde.NewRegistry()
	serde.MustRegister[PatientTreated](preg, "care.PatientTreated")
	serde.MustRegister[PatientTreatedPII](preg, "care.PatientTreatedPII")
	sp, err := avro.New(ctx, preg, client, "bench", avro.WithEncryption(pii.NewEncryptor(pii.NewMemory())))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    any
	}{{"avro", treated}, {"avro-pii", treatedPII}} {
		b.Run(c.name, func(b *testing.B) {
			if _, _, err := sp.Marshal(ctx, c.v); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				name, data, err := sp.Marshal(ctx, c.v)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sp.Unmarshal(ctx, name, data); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time of the whole process (GC included) per op: on a
			// loaded machine steadier than ns/op, which counts waiting.
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	for _, c := range []struct {
		name string
		s    *avro.Serde
	}{{"kafkaes", s}, {"kafkaes-goavro-decoding", sg}} {
		s := c.s
		b.Run(c.name, func(b *testing.B) {
			if _, _, err := s.Marshal(ctx, ev); err != nil { // registers, warms caches
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				name, data, err := s.Marshal(ctx, ev)
				if err != nil {
					b.Fatal(err)
				}
				v, err := s.Unmarshal(ctx, name, data)
				if err != nil || v.(MoneyMoved).Cents != ev.Cents {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPIISplit splits BenchmarkSerde/{avro,avro-pii} into Marshal and
// Unmarshal (same events, same serde).
//
//	go test -run '^$' -bench BenchmarkPIISplit -benchmem -count 6 ./serde/avro
func BenchmarkPIISplit(b *testing.B) {
	ctx := context.Background()
	at := time.UnixMilli(1_700_000_000_123).UTC()
	treated := PatientTreated{PatientID: "patient-0001", Name: "Grace Brewster Hopper", Diagnosis: "fractured left radius", Ward: "B2", Cents: 12000, At: at}
	treatedPII := PatientTreatedPII{PatientID: treated.PatientID, Name: treated.Name, Diagnosis: treated.Diagnosis, Ward: treated.Ward, Cents: treated.Cents, At: treated.At}
	client, _ := avrotest.Registry(b)
	reg := serde.NewRegistry()
	serde.MustRegister[PatientTreated](reg, "care.PatientTreated")
	serde.MustRegister[PatientTreatedPII](reg, "care.PatientTreatedPII")
	s, err := avro.New(ctx, reg, client, "bench", avro.WithEncryption(pii.NewEncryptor(pii.NewMemory())))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    any
	}{{"avro", treated}, {"avro-pii", treatedPII}} {
		name, data, err := s.Marshal(ctx, c.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/marshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Marshal(ctx, c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/unmarshal", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Unmarshal(ctx, name, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
