package avro

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"
)

// decEvent is diffEvent without its decimals (which stay on the goavro
// path): every Go/Avro pair the direct decoder supports in a derived
// schema.
type decEvent struct {
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
	Opt    *string            `avro:"opt"`
	OptRec *diffInner         `avro:"opt_rec"`
	Rec    diffInner          `avro:"rec"`
	Arr    []diffInner        `avro:"arr"`
	Nums   []int32            `avro:"nums"`
	M      map[string]float64 `avro:"m"`
	MK     map[string]diffKind
}

type richStr string

type richInner struct {
	A int32  `avro:"a"`
	B []byte `avro:"b"`
}

type richEmpty struct{}

// richEvent with richSchema covers what derived schemas do not produce:
// fixed into []byte, unions with branches the Go type cannot hold, a
// non-pointer nullable, null items, non-union pointers, narrow integers
// that overflow, named string keys, float/double crossed.
type richEvent struct {
	Fx  []byte               `avro:"fx"`
	Fx0 []byte               `avro:"fx0"`
	U   *string              `avro:"u"`
	UL  *int64               `avro:"ul"`
	NN  string               `avro:"nn"`
	E   string               `avro:"e"`
	MR  map[string]richInner `avro:"mr"`
	AA  [][]bool             `avro:"aa"`
	AE  []richEmpty          `avro:"ae"`
	AN  []*int32             `avro:"an"`
	Ptr *int64               `avro:"ptr"`
	NI  int8                 `avro:"ni"`
	NU  uint16               `avro:"nu"`
	Map map[richStr]int32    `avro:"map"`
	D   time.Time            `avro:"d"`
	F   float64              `avro:"f"`
	DD  float32              `avro:"dd"`
	ID  [16]byte             `avro:"id"`
	US  [16]byte             `avro:"us"`
}

const richSchema = `{"type":"record","name":"x.Rich","fields":[
 {"name":"fx","type":{"type":"fixed","name":"F3","size":3}},
 {"name":"fx0","type":{"type":"fixed","name":"F1","size":1}},
 {"name":"u","type":["string","null","long"]},
 {"name":"ul","type":["null","long","double"]},
 {"name":"nn","type":["string","null"]},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y","Z"]}},
 {"name":"mr","type":{"type":"map","values":{"type":"record","name":"Inner","fields":[
   {"name":"a","type":"int"},{"name":"b","type":["null","bytes"]}]}}},
 {"name":"aa","type":{"type":"array","items":{"type":"array","items":"boolean"}}},
 {"name":"ae","type":{"type":"array","items":{"type":"record","name":"Empty","fields":[]}}},
 {"name":"an","type":{"type":"array","items":"null"}},
 {"name":"ptr","type":"long"},
 {"name":"ni","type":"int"},
 {"name":"nu","type":"long"},
 {"name":"map","type":{"type":"map","values":"int"}},
 {"name":"d","type":{"type":"int","logicalType":"date"}},
 {"name":"f","type":"float"},
 {"name":"dd","type":"double"},
 {"name":"id","type":{"type":"fixed","name":"U16","size":16,"logicalType":"uuid"}},
 {"name":"us","type":{"type":"string","logicalType":"uuid"}}
]}`

// flatEvent has no arrays or maps, so no block-count guard runs before
// either decoder: goavro's own rules (unbounded varints, ints truncated
// to 32 bits, boolean bytes) decide alone.
type flatEvent struct {
	B   bool      `avro:"b"`
	I8  int8      `avro:"i8"`
	I32 int32     `avro:"i32"`
	I64 int64     `avro:"i64"`
	U16 uint16    `avro:"u16"`
	S   string    `avro:"s"`
	ID  [16]byte  `avro:"id"`
	K   diffKind  `avro:"k"`
	Opt *string   `avro:"opt"`
	Rec diffInner `avro:"rec"`
	Day time.Time `avro:"day,date"`
	Ms  time.Time `avro:"ms"`
	Us  time.Time `avro:"us,micros"`
	F   float32   `avro:"f"`
	D   float64   `avro:"d"`
	Raw []byte    `avro:"raw"`
}

type pathCase struct {
	name string
	typ  reflect.Type
	sch  *Schema
	dp   *decodePath
}

func newPathCase(t testing.TB, name string, typ reflect.Type, text string) *pathCase {
	sch, err := ParseSchema(text)
	require.NoError(t, err)
	codec, err := goavro.NewCodec(text)
	require.NoError(t, err)
	pl, err := compilePlan(typ, sch)
	require.NoError(t, err)
	rd, ok := compileRead(typ, sch)
	require.True(t, ok, "%s: the direct decoder must support this type", name)
	ws := &writerSchema{id: 7, schema: sch, codec: codec, guard: hasBlocks(sch, map[*Schema]bool{})}
	return &pathCase{name: name, typ: typ, sch: sch, dp: &decodePath{ws: ws, plan: pl, direct: rd}}
}

func decodeCases(t testing.TB) []*pathCase {
	text, err := DeriveSchema(reflect.TypeFor[decEvent](), "diff.Event")
	require.NoError(t, err)
	flat, err := DeriveSchema(reflect.TypeFor[flatEvent](), "flat.Event")
	require.NoError(t, err)
	// Schema fields the Go type lacks (the plan ignores them): skipped.
	extra := strings.TrimSuffix(flat, "]}") + `,{"name":"x_u","type":["null","string",{"type":"enum","name":"XE","symbols":["A"]}],"default":null},` +
		`{"name":"x_b","type":"boolean","default":false},{"name":"x_i","type":"int","default":0}]}`
	return []*pathCase{
		newPathCase(t, "flat", reflect.TypeFor[flatEvent](), flat),
		newPathCase(t, "flat+unheld", reflect.TypeFor[flatEvent](), extra),
		newPathCase(t, "derived", reflect.TypeFor[decEvent](), text),
		newPathCase(t, "rich", reflect.TypeFor[richEvent](), richSchema),
	}
}

// agree decodes body with both paths and fails unless both reject it or
// both return the same value. It reports whether body was accepted.
func (c *pathCase) agree(t testing.TB, body []byte, maxItems int64) bool {
	t.Helper()
	gv, gerr := decodeGoavro(c.dp, c.typ, body, maxItems)
	dv, derr := decodeDirect(c.dp.ws, c.dp.direct, c.typ, body, maxItems)
	if (gerr == nil) != (derr == nil) {
		t.Fatalf("%s: paths disagree on body %x (max items %d):\ngoavro: %v\ndirect: %v", c.name, body, maxItems, gerr, derr)
	}
	if gerr != nil {
		return false
	}
	if !sameValue(gv, dv) {
		t.Fatalf("%s: paths decode body %x differently:\ngoavro: %#v\ndirect: %#v", c.name, body, gv.Interface(), dv.Interface())
	}
	return true
}

// sameValue is reflect.DeepEqual with floats compared by their bits (NaN
// equals itself) and times with ==.
func sameValue(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		return a.Interface().(time.Time) == b.Interface().(time.Time)
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Slice, reflect.Array:
		if a.Kind() == reflect.Slice && a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !sameValue(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return a.Interface() == b.Interface()
}

// randBody writes a random valid Avro encoding of s: extreme integers,
// random float bits, invalid UTF-8, every union branch, arrays and maps
// in several blocks (some with negative counts and byte sizes), duplicate
// map keys now and then.
func randBody(r *rand.Rand, s *Schema, buf []byte) []byte {
	switch s.Kind {
	case Null:
		return buf
	case Boolean:
		return append(buf, byte(r.IntN(2)))
	case Int, Long:
		if r.IntN(8) != 0 { // mostly values every Go integer type holds
			return appendLong(buf, r.Int64N(100))
		}
		if s.Kind == Int {
			return appendLong(buf, randInt(r, 32))
		}
		return appendLong(buf, randInt(r, 64))
	case Float:
		return binary.LittleEndian.AppendUint32(buf, r.Uint32())
	case Double:
		return binary.LittleEndian.AppendUint64(buf, r.Uint64())
	case Bytes, String:
		var b []byte
		if s.Logical == "uuid" && r.IntN(8) != 0 {
			var u [16]byte
			for i := range u {
				u[i] = byte(r.UintN(256))
			}
			b = []byte(formatUUID(u))
		} else {
			for n := r.IntN(6); n > 0; n-- {
				b = append(b, []byte{'a', 0, 0xff, 0xc3, '-'}[r.IntN(5)])
			}
		}
		return append(appendLong(buf, int64(len(b))), b...)
	case Enum:
		return appendLong(buf, int64(r.IntN(len(s.Symbols))))
	case Fixed:
		for i := 0; i < s.Size; i++ {
			buf = append(buf, byte(r.UintN(256)))
		}
		return buf
	case Union:
		i := r.IntN(len(s.Branches))
		return randBody(r, s.Branches[i], appendLong(buf, int64(i)))
	case Record:
		for _, f := range s.Fields {
			buf = randBody(r, f.Type, buf)
		}
		return buf
	case Array, Map:
		key := 0
		for blocks := r.IntN(3); blocks > 0; blocks-- {
			n := 1 + r.IntN(3)
			var block []byte
			for i := 0; i < n; i++ {
				if s.Kind == Map {
					if r.IntN(10) != 0 { // else a duplicate key
						key++
					}
					k := string(rune('a' + key))
					block = append(appendLong(block, int64(len(k))), k...)
					block = randBody(r, s.Values, block)
				} else {
					block = randBody(r, s.Items, block)
				}
			}
			if r.IntN(3) == 0 {
				buf = appendLong(appendLong(buf, -int64(n)), int64(len(block)))
			} else {
				buf = appendLong(buf, int64(n))
			}
			buf = append(buf, block...)
		}
		return append(buf, 0)
	}
	panic("randBody: unsupported kind " + s.Kind.String())
}

func mutate(r *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for n := 1 + r.IntN(3); n > 0; n-- {
		switch op := r.IntN(5); {
		case op == 3:
			i := r.IntN(len(b) + 1) // lengthen a varint
			b = append(b[:i], append([]byte{0x80 | byte(r.UintN(256))}, b[i:]...)...)
		case op == 0 && len(b) > 0:
			b[r.IntN(len(b))] = byte(r.UintN(256))
		case op == 1 && len(b) > 0:
			b = b[:r.IntN(len(b))]
		case op == 2:
			i := r.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(r.UintN(256))}, b[i:]...)...)
		default:
			b = append(b, byte(r.UintN(256)))
		}
	}
	return b
}

// TestDirectDecoderMatchesGoavro decodes thousands of random valid and
// corrupted bodies with both decode paths: they must accept and reject
// the same bodies and return identical values.
func TestDirectDecoderMatchesGoavro(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range decodeCases(t) {
		accepted, rejected := 0, 0
		for i := 0; i < 4000; i++ {
			body := randBody(r, c.sch, nil)
			maxItems := int64(1 << 16)
			if i%7 == 0 {
				maxItems = int64(r.IntN(4)) // exhaust the zero-size item budget
			}
			if c.agree(t, body, maxItems) {
				accepted++
			} else {
				rejected++
			}
			if c.agree(t, mutate(r, body), maxItems) {
				accepted++
			} else {
				rejected++
			}
		}
		t.Logf("%s: %d bodies accepted, %d rejected by both paths", c.name, accepted, rejected)
		require.Greater(t, accepted, 600, c.name)
		require.Greater(t, rejected, 1000, c.name)
	}
}

// TestDirectDecoderRoundTrip decodes random Go values written by the
// direct encoder (byte-identical to goavro) with both paths.
func TestDirectDecoderRoundTrip(t *testing.T) {
	c := decodeCases(t)[2]
	app, ok := compileAppend(c.typ, c.sch)
	require.True(t, ok)
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 3000; i++ {
		src := reflect.ValueOf(randEvent(r))
		ev := reflect.New(c.typ).Elem()
		for j := 0; j < c.typ.NumField(); j++ {
			ev.Field(j).Set(src.FieldByName(c.typ.Field(j).Name))
		}
		body, err := app(nil, ev)
		require.NoError(t, err)
		require.True(t, c.agree(t, body, 1<<16), "event %d rejected", i)
		dv, err := decodeDirect(c.dp.ws, c.dp.direct, c.typ, body, 1<<16)
		require.NoError(t, err)
		got := dv.Interface().(decEvent)
		want := ev.Interface().(decEvent)
		require.Equal(t, want.S, got.S)
		require.Equal(t, want.ID, got.ID)
		require.Equal(t, want.Ms.UnixMilli(), got.Ms.UnixMilli())
		require.Equal(t, want.Arr == nil, len(got.Arr) == 0)
	}
}

// TestDirectDecoderScope: what the direct decoder leaves to goavro.
func TestDirectDecoderScope(t *testing.T) {
	text, err := DeriveSchema(reflect.TypeFor[diffEvent](), "diff.Event")
	require.NoError(t, err)
	s, err := ParseSchema(text)
	require.NoError(t, err)
	_, ok := compileRead(reflect.TypeFor[diffEvent](), s)
	require.False(t, ok, "decimals stay on the goavro path")

	type Old struct {
		A string `avro:"a"`
	}
	s, err = ParseSchema(`{"type":"record","name":"x.R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":3}]}`)
	require.NoError(t, err)
	_, ok = compileRead(reflect.TypeFor[Old](), s)
	require.True(t, ok, "a field the Go type lacks is skipped")
	s, err = ParseSchema(`{"type":"record","name":"x.R","fields":[{"name":"a","type":"string"},{"name":"b","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2},"default":"\\u0000"}]}`)
	require.NoError(t, err)
	_, ok = compileRead(reflect.TypeFor[Old](), s)
	require.False(t, ok, "decimals are not skipped directly")

	type Node struct {
		V    int64 `avro:"v"`
		Next *Node `avro:"next"`
	}
	s, err = ParseSchema(`{"type":"record","name":"x.Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","x.Node"]}]}`)
	require.NoError(t, err)
	_, err = compilePlan(reflect.TypeFor[Node](), s)
	require.NoError(t, err)
	_, ok = compileRead(reflect.TypeFor[Node](), s)
	require.False(t, ok, "recursive schemas stay on the goavro path")

	type Dur struct {
		D int32 `avro:"d"`
	}
	s, err = ParseSchema(`{"type":"record","name":"x.D","fields":[{"name":"d","type":{"type":"int","logicalType":"time-millis"}}]}`)
	require.NoError(t, err)
	_, ok = compileRead(reflect.TypeFor[Dur](), s)
	require.False(t, ok, "goavro's logical types other than the time.Time ones stay on the goavro path")

	a, _ := ParseSchema(`{"type":"enum","name":"E","symbols":["A","B"]}`)
	b, _ := ParseSchema(`{"type":"enum","name":"E","symbols":["B","A"]}`)
	require.False(t, sameShape(a, b, map[[2]*Schema]bool{}), "symbol order is part of the shape")
	c, _ := ParseSchema(`{"type":"enum","name":"E","symbols":["A","B"],"default":"A","doc":"x"}`)
	require.True(t, sameShape(a, c, map[[2]*Schema]bool{}))
}

// FuzzDirectDecode: for arbitrary bodies both decode paths agree on
// accept/reject and on the value.
//
//	go test -run '^$' -fuzz FuzzDirectDecode -fuzztime 30s ./serde/avro
func FuzzDirectDecode(f *testing.F) {
	cases := decodeCases(f)
	for _, w := range evolvedWriters(f) {
		cases = append(cases, newResolvedCase(f, w))
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 10; i++ {
		which := uint8(i % len(cases))
		f.Add(which, uint8(16), randBody(r, cases[which].sch, nil))
	}
	f.Add(uint8(1), uint8(2), []byte{0x06, 0x00, 0x00, 0x00, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, which, maxItems uint8, body []byte) {
		cases[int(which)%len(cases)].agree(t, body, int64(maxItems))
	})
}

// flatBody encodes a flatEvent field by field, with the encodings in
// over replacing the valid defaults.
func flatBody(over map[string][]byte) []byte {
	fields := []struct {
		name string
		enc  []byte
	}{
		{"b", []byte{0}}, {"i8", []byte{0}}, {"i32", []byte{0}}, {"i64", []byte{0}}, {"u16", []byte{0}},
		{"s", []byte{0}}, {"id", append([]byte{72}, "00000000-0000-0000-0000-000000000000"...)}, {"k", []byte{0}}, {"opt", []byte{0}},
		{"rec", []byte{0, 0, 0, 0, 0, 0}}, {"day", []byte{0}}, {"ms", []byte{0}}, {"us", []byte{0}},
		{"f", []byte{0, 0, 0, 0}}, {"d", make([]byte, 8)}, {"raw", []byte{0}},
	}
	var b []byte
	for _, f := range fields {
		if e, ok := over[f.name]; ok {
			b = append(b, e...)
		} else {
			b = append(b, f.enc...)
		}
	}
	return b
}

// TestDirectDecoderEdgeCases: goavro's exact rules where no guard runs.
func TestDirectDecoderEdgeCases(t *testing.T) {
	c := decodeCases(t)[0]
	long := func(v int64) []byte { return appendLong(nil, v) }
	cases := []struct {
		field  string
		enc    []byte
		accept bool
	}{
		{"b", []byte{1}, true},
		{"b", []byte{2}, false},
		{"i32", []byte{0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, true}, // over-long varint, truncated to 32 bits
		{"i32", long(1 << 33), true},
		{"i32", long(math.MinInt32), true},
		{"i64", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x03}, true}, // 11 bytes
		{"i64", long(math.MinInt64), true},
		{"i8", long(127), true},
		{"i8", long(128), false},
		{"i8", long(-129), false},
		{"u16", long(-1), false},
		{"u16", long(65535), true},
		{"s", long(-1), false},
		{"s", append(long(2), 'x'), false},
		{"s", append(long(2), 0xff, 0xfe), true}, // not UTF-8: goavro does not check
		{"id", append(long(36), "6ba7b810-9dad-11d1-80b4-00c04fd430c8"...), true},
		{"id", append(long(36), "6ba7b810-9dad-11d1-80b4-00c04fd430cZ"...), false},
		{"id", append(long(3), "abc"...), false},
		{"k", long(2), true},
		{"k", long(3), false},
		{"k", long(-1), false},
		{"opt", append(long(1), append(long(1), 'x')...), true},
		{"opt", long(2), false},
		{"opt", long(-1), false},
		{"rec", []byte{0, 2, 0x80, 0, 0, 0, 0, 0}, true},
		{"rec", []byte{0, 4}, false},
		{"day", long(math.MaxInt32), true},
		{"day", long(math.MinInt32), true},
		{"ms", long(math.MinInt64), true},
		{"ms", long(math.MaxInt64), true},
		{"us", long(-1), true},
		{"f", []byte{0, 0, 0xc0, 0x7f}, true}, // NaN
		{"raw", long(3), false},
		{"raw", append(long(1), 7), true},
	}
	for _, tc := range cases {
		body := flatBody(map[string][]byte{tc.field: tc.enc})
		require.Equal(t, tc.accept, c.agree(t, body, 1<<16), "field %s encoded %x", tc.field, tc.enc)
	}
	require.True(t, c.agree(t, flatBody(nil), 1<<16))
	require.False(t, c.agree(t, append(flatBody(nil), 0), 1<<16), "trailing byte")
	require.False(t, c.agree(t, flatBody(nil)[:20], 1<<16), "truncated")
	require.False(t, c.agree(t, nil, 1<<16), "empty")
}
