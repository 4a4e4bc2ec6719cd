package avro

import (
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"
)

func TestGuardRejectsHugeBlocks(t *testing.T) {
	s, err := ParseSchema(`{"type":"record","name":"R","fields":[
		{"name":"e","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}},
		{"name":"n","type":{"type":"array","items":"long"}}]}`)
	require.NoError(t, err)
	// 2^31-1 empty records: goavro would allocate 32 GiB for the slice.
	err = checkBinary(s, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x00}, 1000)
	require.ErrorContains(t, err, "zero-size items")
	// A block of longs larger than the payload.
	err = checkBinary(s, []byte{0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x02}, 1000)
	require.ErrorContains(t, err, "remaining bytes")
	// Negative counts carry a byte size; the budget is per payload.
	require.NoError(t, checkBinary(s, []byte{0x03, 0x00, 0x00, 0x00}, 1000))
	require.ErrorContains(t, checkBinary(s, []byte{0xd2, 0x0f, 0x00, 0x00}, 1000), "zero-size")
	require.ErrorContains(t, checkBinary(s, []byte{0x00, 0x00, 0x00}, 1000), "left over")
	require.ErrorIs(t, checkBinary(s, []byte{0x00}, 1000), errShort)

	u, err := ParseSchema(`["null","string"]`)
	require.NoError(t, err)
	require.ErrorContains(t, checkBinary(u, []byte{0x04}, 10), "branch index 2")
	require.ErrorIs(t, checkBinary(u, []byte{0x02, 0x0a, 'a'}, 10), errShort)
}

func TestResolverIdentityAndConversions(t *testing.T) {
	text := `{"type":"record","name":"R","fields":[{"name":"a","type":["null","long"]},{"name":"m","type":{"type":"map","values":"int"}}]}`
	s1, err := ParseSchema(text)
	require.NoError(t, err)
	s2, err := ParseSchema(text)
	require.NoError(t, err)
	fn, err := compileResolver(s1, s2, false)
	require.NoError(t, err)
	require.Nil(t, fn, "equal schemas need no conversion")

	w, _ := ParseSchema(`{"type":"record","name":"ns.R","fields":[
		{"name":"i","type":"int"},{"name":"f","type":"float"},{"name":"s","type":"string"},
		{"name":"u","type":["null","int"]},{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B","Z"]}},
		{"name":"t","type":"long"},{"name":"gone","type":"string"}]}`)
	r, _ := ParseSchema(`{"type":"record","name":"other.R","fields":[
		{"name":"i","type":"double"},{"name":"f","type":"double"},{"name":"s","type":"bytes"},
		{"name":"u","type":["null","string","long"]},{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B","C"],"default":"C"}},
		{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"new","type":{"type":"array","items":"int"},"default":[1,2]},
		{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2},"default":"\u0001"}]}`)
	fn, err = compileResolver(w, r, false)
	require.NoError(t, err)
	in := map[string]any{"i": int32(3), "f": float32(1.5), "s": "hi", "u": map[string]any{"int": int32(9)}, "e": "Z", "t": int64(1500), "gone": "x"}
	out, err := fn(in)
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"i": float64(3), "f": float64(1.5), "s": []byte("hi"), "u": map[string]any{"long": int64(9)}, "e": "C",
		"t": time.UnixMilli(1500).UTC(), "new": []any{int32(1), int32(2)}, "d": big.NewRat(1, 100),
	}, out)

	// The resolved value is what goavro produces when the reader schema
	// encodes it.
	codec, err := goavro.NewCodec(`{"type":"record","name":"other.R","fields":[
		{"name":"i","type":"double"},{"name":"f","type":"double"},{"name":"s","type":"bytes"},
		{"name":"u","type":["null","string","long"]},{"name":"e","type":{"type":"enum","name":"K","symbols":["A","B","C"],"default":"C"}},
		{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"new","type":{"type":"array","items":"int"},"default":[1,2]},
		{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2},"default":"\u0001"}]}`)
	require.NoError(t, err)
	_, err = codec.BinaryFromNative(nil, out)
	require.NoError(t, err)

	// Unknown symbol without a default: a runtime error, not a panic.
	r2, _ := ParseSchema(`{"type":"enum","name":"K","symbols":["A"]}`)
	w2, _ := ParseSchema(`{"type":"enum","name":"K","symbols":["A","B"]}`)
	fn, err = compileResolver(w2, r2, false)
	require.NoError(t, err)
	_, err = fn("B")
	require.ErrorContains(t, err, `"B" is unknown`)
	_, err = compileResolver(w2, r2, true)
	require.Error(t, err)
}

func TestDecimalEncoding(t *testing.T) {
	for _, c := range []string{"0", "1", "-1", "127", "128", "-128", "-129", "255", "-256", "123456789012345678901234567890"} {
		n, _ := new(big.Int).SetString(c, 10)
		b := twosFromInt(n)
		got := ratFromTwos(b, 0)
		require.Equal(t, c, got.Num().String(), "two's complement of %s = %x", c, b)
	}
}

func TestDeriveErrors(t *testing.T) {
	type U struct{ X uint64 }
	_, err := DeriveSchema(typeOf[U](), "a.U")
	require.ErrorContains(t, err, "use int64 instead of uint64")
	// Recursive types become recursive schemas.
	type Rec struct {
		V    int32
		Next *Rec
	}
	text, err := DeriveSchema(typeOf[Rec](), "a.Rec")
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"record","name":"a.Rec","fields":[{"name":"V","type":"int"},{"name":"Next","type":["null","a.Rec"],"default":null}]}`, text)
	s, err := ParseSchema(text)
	require.NoError(t, err)
	pl, err := compilePlan(typeOf[Rec](), s)
	require.NoError(t, err)
	codec, err := goavro.NewCodec(text)
	require.NoError(t, err)
	in := Rec{1, &Rec{2, &Rec{3, nil}}}
	nat, err := pl.enc(reflect.ValueOf(in), nil)
	require.NoError(t, err)
	bin, err := codec.BinaryFromNative(nil, nat)
	require.NoError(t, err)
	require.NoError(t, checkBinary(s, bin, 10))
	back, _, err := codec.NativeFromBinary(bin)
	require.NoError(t, err)
	var out Rec
	require.NoError(t, pl.dec(back, reflect.ValueOf(&out).Elem()))
	require.Equal(t, in, out)
	type M struct{ M map[int]string }
	_, err = DeriveSchema(typeOf[M](), "a.M")
	require.ErrorContains(t, err, "string keys")
	type T struct {
		A int `avro:"a,bogus"`
	}
	_, err = DeriveSchema(typeOf[T](), "a.T")
	require.ErrorContains(t, err, "unknown avro tag option")
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// FuzzSchemaJSON checks that writing a parsed schema back out (as done for
// schemas with references) gives a schema that parses, that goavro
// accepts whenever it accepts the original, and that is equivalent.
func FuzzSchemaJSON(f *testing.F) {
	f.Add(`{"type":"record","name":"a.R","aliases":["Old"],"fields":[{"name":"x","type":{"type":"enum","name":"K","symbols":["A"],"default":"A"},"aliases":["y"]},{"name":"r","type":["null","R"],"default":null},{"name":"k","type":"K"}]}`)
	f.Add(`{"type":"array","items":{"type":"fixed","name":"F","size":2,"logicalType":"decimal","precision":3,"scale":1}}`)
	f.Add(`{"type":"map","values":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`)
	f.Add(`["null",{"type":"long","logicalType":"timestamp-micros"},{"type":"record","name":"E","fields":[{"name":"d","type":"double","default":1.5}]}]`)
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSchema(text)
		if err != nil {
			return
		}
		_, out, err := parseWithRefs(nil, text)
		if err != nil {
			t.Fatalf("re-parse failed: %v", err)
		}
		s2, err := ParseSchema(out)
		if err != nil {
			t.Fatalf("written schema does not parse: %v\n%s", err, out)
		}
		if _, err := compileResolver(s, s2, true); err != nil {
			t.Fatalf("written schema cannot read the original: %v", err)
		}
		if _, err := compileResolver(s2, s, true); err != nil {
			t.Fatalf("original cannot read the written schema: %v", err)
		}
		if _, err := goavro.NewCodec(text); err == nil {
			if _, err := goavro.NewCodec(out); err != nil {
				t.Fatalf("goavro accepts the original but not the written schema: %v\n%s\n%s", err, text, out)
			}
		}
	})
}

func TestPlanRejectsDuplicateFieldNames(t *testing.T) {
	type D struct {
		A string `avro:"x"`
		B string `avro:"x"`
	}
	s, err := ParseSchema(`{"type":"record","name":"D","fields":[{"name":"x","type":"string"}]}`)
	require.NoError(t, err)
	_, err = compilePlan(typeOf[D](), s)
	require.ErrorContains(t, err, `both map to Avro field "x"`)
}
