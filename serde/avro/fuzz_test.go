package avro_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// Empty is a record without fields: its values take zero bytes, so an
// array of them is the cheapest way to ask a decoder for a huge
// allocation.
type Empty struct{}

type Sparse struct {
	Items []Empty `avro:"items"`
	Nums  []int64 `avro:"nums"`
}

type fuzzTarget struct {
	name   string
	header []byte
	schema string
}

// fuzzSetup registers four event types (one read through schema
// resolution) and returns the serde, one that always decodes with goavro
// (WithGoavroDecoding) and the frame headers of their schemas.
func fuzzSetup(t testing.TB) (*avro.Serde, *avro.Serde, []fuzzTarget) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "fuzz")
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	serde.MustRegister[Sparse](reg, "fuzz.Sparse")
	serde.MustRegister[DepositV2](reg, "bank.Deposited")
	serde.MustRegister[MoneyMoved](reg, "bank.MoneyMoved")
	s, err := avro.New(ctx, reg, client, topic, avro.WithMaxItems(1000), avro.WithCompatibility(avro.None))
	require.NoError(t, err)
	sg, err := avro.New(ctx, reg, client, topic, avro.WithMaxItems(1000), avro.WithCompatibility(avro.None), avro.WithGoavroDecoding())
	require.NoError(t, err)

	reg1 := serde.NewRegistry()
	serde.MustRegister[DepositV1](reg1, "bank.Deposited")
	s1, err := avro.New(ctx, reg1, client, topic, avro.WithCompatibility(avro.None))
	require.NoError(t, err)

	_, acct, err := s.Marshal(ctx, sample())
	require.NoError(t, err)
	_, sparse, err := s.Marshal(ctx, Sparse{Items: make([]Empty, 3), Nums: []int64{1, -1}})
	require.NoError(t, err)
	_, dep, err := s1.Marshal(ctx, DepositV1{Account: "a", Amount: 5, Note: "n", Kind: "WIRE"})
	require.NoError(t, err)
	_, moved, err := s.Marshal(ctx, benchEvent())
	require.NoError(t, err)
	sa, _ := s.SchemaFor(evName)
	sm, _ := s.SchemaFor("bank.MoneyMoved")
	ss, _ := s.SchemaFor("fuzz.Sparse")
	sd, _ := s1.SchemaFor("bank.Deposited")
	return s, sg, []fuzzTarget{
		{"bank.MoneyMoved", moved[:5], sm},
		{evName, acct[:5], sa},
		{"fuzz.Sparse", sparse[:5], ss},
		{"bank.Deposited", dep[:5], sd},
	}
}

// FuzzUnmarshal feeds arbitrary bodies, behind valid frame headers, to
// the decoder: it must return a value or an error wrapping
// serde.ErrMalformed, never panic or allocate without bound, agree with
// goavro on which bodies are valid, and return what the goavro decode
// path (WithGoavroDecoding) returns.
//
//	go test -run '^$' -fuzz FuzzUnmarshal -fuzztime 10s ./serde/avro
func FuzzUnmarshal(f *testing.F) {
	s, sg, targets := fuzzSetup(f)
	ctx := context.Background()
	codecs := make([]*goavro.Codec, len(targets))
	for i, tg := range targets {
		c, err := goavro.NewCodec(tg.schema)
		require.NoError(f, err)
		codecs[i] = c
	}
	f.Add(uint8(0), mustBody(f, s, benchEvent()))
	f.Add(uint8(1), mustBody(f, s, sample()))
	f.Add(uint8(2), mustBody(f, s, Sparse{Items: make([]Empty, 2), Nums: []int64{7}}))
	f.Add(uint8(3), []byte{0x02, 'a', 0x0a, 0x02, 'n', 0x02})
	// A block of 2^31-1 zero-size items, then of 2^62 longs.
	f.Add(uint8(2), []byte{0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00})
	f.Add(uint8(2), []byte{0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Add(uint8(1), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		tg := targets[int(which)%len(targets)]
		data := append(append([]byte{}, tg.header...), body...)
		v, err := s.Unmarshal(ctx, tg.name, data)
		gv, gerr := sg.Unmarshal(ctx, tg.name, data)
		if (err == nil) != (gerr == nil) {
			t.Fatalf("direct and goavro decode paths disagree: %v / %v", err, gerr)
		}
		if err != nil {
			if !errors.Is(err, serde.ErrMalformed) {
				t.Fatalf("error does not wrap serde.ErrMalformed: %v", err)
			}
			var de, gde *avro.DecodeError
			if !errors.As(err, &de) || !errors.As(gerr, &gde) || de.Type != gde.Type || de.SchemaID != gde.SchemaID || de.Topic != gde.Topic {
				t.Fatalf("decode errors differ in context: %#v / %#v", err, gerr)
			}
			return
		}
		if !reflect.DeepEqual(v, gv) {
			// NaN floats are never DeepEqual: compare the encodings.
			_, a, _ := s.Marshal(ctx, v)
			_, b, _ := s.Marshal(ctx, gv)
			if a == nil || !bytes.Equal(a, b) {
				t.Fatalf("direct and goavro decode paths differ:\n%#v\n%#v", v, gv)
			}
		}
		if v == nil {
			t.Fatal("nil value without error")
		}
		// What we accept, goavro (with the writer's schema) accepts too.
		if _, rest, err := codecs[int(which)%len(targets)].NativeFromBinary(body); err != nil || len(rest) != 0 {
			t.Fatalf("serde accepted a body goavro rejects: %v (rest %d)", err, len(rest))
		}
	})
}

func mustBody(t testing.TB, s *avro.Serde, v any) []byte {
	_, data, err := s.Marshal(context.Background(), v)
	require.NoError(t, err)
	return data[5:]
}

// FuzzSchemas feeds arbitrary schema texts to the parser and the
// compatibility checker: errors are fine, panics are not, and a schema is
// always compatible with itself.
//
//	go test -run '^$' -fuzz FuzzSchemas -fuzztime 10s ./serde/avro
func FuzzSchemas(f *testing.F) {
	f.Add(rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`))
	f.Add(`{"type":"enum","name":"K","symbols":["A","B"],"default":"A"}`, `{"type":"enum","name":"K","symbols":["A"]}`)
	f.Add(`["null",{"type":"record","name":"R","fields":[{"name":"r","type":["null","R"],"default":null}]}]`, `"null"`)
	f.Add(`{"type":"map","values":{"type":"array","items":{"type":"fixed","name":"F","size":3}}}`, `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		_ = avro.CanRead(a, b)
		_ = avro.CheckCompatibility(avro.FullTransitive, a, b, a)
		if _, err := avro.ParseSchema(a); err == nil {
			if err := avro.CanRead(a, a); err != nil {
				t.Fatalf("schema cannot read itself: %v\n%s", err, a)
			}
		}
	})
}
