package avro_test

import (
	"context"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
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
