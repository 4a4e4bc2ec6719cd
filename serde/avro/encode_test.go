package avro

import (
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"
)

type diffKind string

func (diffKind) AvroSymbols() []string { return []string{"A", "B", "C"} }

type diffInner struct {
	S string  `avro:"s"`
	P *int64  `avro:"p"`
	F float32 `avro:"f"`
}

type diffEvent struct {
	I8     int8               `avro:"i8"`
	I16    int16              `avro:"i16"`
	I32    int32              `avro:"i32"`
	I      int                `avro:"i"`
	I64    int64              `avro:"i64"`
	U8     uint8              `avro:"u8"`
	U16    uint16             `avro:"u16"`
	U32    uint32             `avro:"u32"`
	F32    float32            `avro:"f32"`
	F64    float64            `avro:"f64"`
	B      bool               `avro:"b"`
	S      string             `avro:"s"`
	Raw    []byte             `avro:"raw"`
	ID     [16]byte           `avro:"id"`
	U      string             `avro:"u,uuid"`
	K      diffKind           `avro:"k"`
	Ms     time.Time          `avro:"ms"`
	Us     time.Time          `avro:"us,micros"`
	Day    time.Time          `avro:"day,date"`
	Money  *big.Rat           `avro:"money,precision=30,scale=4"`
	Money2 big.Rat            `avro:"money2"`
	Opt    *string            `avro:"opt"`
	OptRec *diffInner         `avro:"opt_rec"`
	Rec    diffInner          `avro:"rec"`
	Arr    []diffInner        `avro:"arr"`
	Nums   []int32            `avro:"nums"`
	M      map[string]float64 `avro:"m"`
	MK     map[string]diffKind
}

func randString(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "0", " ", "é", "✓", "𝄞", "\x00", "\""}
	var sb strings.Builder
	for n := r.IntN(12); n > 0; n-- {
		sb.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

func randInt(r *rand.Rand, bits uint) int64 {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return -1 << (bits - 1) // min
	case 2:
		return 1<<(bits-1) - 1 // max
	}
	return int64(r.Uint64()) >> (64 - bits) // uniform over the signed range
}

func randTime(r *rand.Rand) time.Time {
	return time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)).UTC()
}

func randRat(r *rand.Rand, scale int64, wide bool) *big.Rat {
	n := new(big.Int).SetUint64(r.Uint64N(uint64(math.Pow10(r.IntN(16) + 1))))
	if wide && r.IntN(4) == 0 { // beyond 64 bits
		n.Mul(n, big.NewInt(1e12))
	}
	if r.IntN(2) == 0 {
		n.Neg(n)
	}
	return new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil))
}

func randEvent(r *rand.Rand) diffEvent {
	e := diffEvent{
		I8: int8(randInt(r, 8)), I16: int16(randInt(r, 16)), I32: int32(randInt(r, 32)), I: int(randInt(r, 64)), I64: randInt(r, 64),
		U8: uint8(r.UintN(256)), U16: uint16(r.UintN(1 << 16)), U32: r.Uint32(),
		F32: float32(r.NormFloat64()), F64: r.NormFloat64() * 1e10, B: r.IntN(2) == 1,
		S: randString(r), K: diffKind([]string{"A", "B", "C"}[r.IntN(3)]),
		Ms: randTime(r), Us: randTime(r), Day: randTime(r),
		Money: randRat(r, 4, true), Money2: *randRat(r, 2, false),
		Rec: diffInner{S: randString(r), F: float32(r.Float64())},
	}
	for i := range e.ID {
		e.ID[i] = byte(r.UintN(256))
	}
	e.U = formatUUID(e.ID)
	if r.IntN(2) == 0 {
		e.Raw = []byte(randString(r))
	}
	if r.IntN(2) == 0 {
		s := randString(r)
		e.Opt = &s
	}
	if r.IntN(2) == 0 {
		p := randInt(r, 64)
		e.OptRec = &diffInner{S: randString(r), P: &p}
	}
	for n := r.IntN(4); n > 0; n-- {
		e.Arr = append(e.Arr, diffInner{S: randString(r)})
		e.Nums = append(e.Nums, int32(randInt(r, 32)))
	}
	if r.IntN(2) == 0 { // at most one entry: map order would change the bytes
		e.M = map[string]float64{randString(r): math.Inf(1)}
		e.MK = map[string]diffKind{"k": "C"}
	}
	return e
}

// TestDirectEncoderMatchesGoavro checks that the direct encoder writes
// exactly the bytes goavro writes from the plan's native form.
func TestDirectEncoderMatchesGoavro(t *testing.T) {
	typ := reflect.TypeFor[diffEvent]()
	text, err := DeriveSchema(typ, "diff.Event")
	require.NoError(t, err)
	s, err := ParseSchema(text)
	require.NoError(t, err)
	pl, err := compilePlan(typ, s)
	require.NoError(t, err)
	app, ok := compileAppend(typ, s)
	require.True(t, ok)
	codec, err := goavro.NewCodec(text)
	require.NoError(t, err)

	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		ev := randEvent(r)
		v := reflect.ValueOf(ev)
		native, err := pl.enc(v, nil)
		require.NoError(t, err)
		want, err := codec.BinaryFromNative(nil, native)
		require.NoError(t, err)
		got, err := app(nil, v)
		require.NoError(t, err)
		require.Equal(t, want, got, "event %d: %+v", i, ev)
	}

	// Errors match too: overflow, bad enum, inexact money.
	ev := randEvent(r)
	ev.K = "Z"
	_, err = app(nil, reflect.ValueOf(ev))
	require.ErrorContains(t, err, `"Z" is not a symbol`)
	ev = randEvent(r)
	ev.Money = big.NewRat(1, 3)
	_, err = app(nil, reflect.ValueOf(ev))
	require.ErrorContains(t, err, "fraction digits")
	ev.Money = new(big.Rat).SetInt(pow10(30))
	_, err = app(nil, reflect.ValueOf(ev))
	require.ErrorContains(t, err, "exceeds precision")
}

func TestDirectEncoderFallsBackForDefaults(t *testing.T) {
	type Old struct {
		A string `avro:"a"`
	}
	s, err := ParseSchema(`{"type":"record","name":"x.R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":3}]}`)
	require.NoError(t, err)
	_, ok := compileAppend(reflect.TypeFor[Old](), s)
	require.False(t, ok, "a field only the schema has needs its default: goavro path")
}
