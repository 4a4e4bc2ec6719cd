package avro

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/stretchr/testify/require"
)

const evolvedWriter = `{"type":"record","name":"x.Ev","fields":[
 {"name":"keep1","type":"long"},
 {"name":"gone_u","type":["null","string",{"type":"record","name":"Sub","fields":[
   {"name":"a","type":"int"},{"name":"m","type":{"type":"map","values":{"type":"array","items":"boolean"}}}]}]},
 {"name":"keep2","type":"string"},
 {"name":"gone_e","type":{"type":"enum","name":"GE","symbols":["P","Q"]}},
 {"name":"gone_f","type":{"type":"fixed","name":"GF","size":2}},
 {"name":"nested","type":{"type":"record","name":"N","fields":[
   {"name":"x","type":"int"},{"name":"gone_d","type":"double"},{"name":"y","type":"string"}]}},
 {"name":"gone_day","type":{"type":"int","logicalType":"date"}},
 {"name":"gone_arr","type":{"type":"array","items":{"type":"record","name":"GEmpty","fields":[]}}},
 {"name":"keep3","type":["null","long"]},
 {"name":"gone_ts","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"gone_b","type":"boolean"},
 {"name":"unheld","type":"string"},
 {"name":"old_name","type":"float"}
]}`

const evolvedReader = `{"type":"record","name":"x.Ev","fields":[
 {"name":"keep2","type":"string"},
 {"name":"keep1","type":"long"},
 {"name":"nested","type":{"type":"record","name":"N","fields":[
   {"name":"y","type":"string"},{"name":"x","type":"int"},{"name":"z","type":"string","default":"zz"}]}},
 {"name":"keep3","type":["null","long"]},
 {"name":"added_int","type":"int","default":5},
 {"name":"added_rec","type":{"type":"record","name":"A","fields":[{"name":"q","type":"string"}]},"default":{"q":"d"}},
 {"name":"added_u","type":["null","string"],"default":null},
 {"name":"unheld","type":"string","default":"u"},
 {"name":"renamed","aliases":["old_name"],"type":"float"},
 {"name":"added_big","type":"long","default":300}
]}`

type evolvedNested struct {
	Y string `avro:"y"`
	X int8   `avro:"x"` // narrow: written ints overflow now and then
	Z string `avro:"z"`
}

type evolvedEvent struct {
	Keep2    string         `avro:"keep2"`
	Keep1    int64          `avro:"keep1"`
	Nested   *evolvedNested `avro:"nested"`
	Keep3    *int64         `avro:"keep3"`
	AddedInt int32          `avro:"added_int"`
	AddedRec struct {
		Q string `avro:"q"`
	} `avro:"added_rec"`
	AddedU  *string `avro:"added_u"`
	Renamed float32 `avro:"renamed"`
	AddedBg int16   `avro:"added_big"`
}

// TestDirectDecoderResolvedMatchesGoavro: added fields (defaults),
// removed fields of every kind (skipped), reordered and renamed fields,
// a reader field the Go type lacks, nested records, against goavro plus
// the resolver on random valid and corrupted bodies.
func TestDirectDecoderResolvedMatchesGoavro(t *testing.T) {
	// Without arrays and maps no block guard runs first: the skipping
	// alone must reject what goavro rejects.
	for _, wText := range evolvedWriters(t) {
		testResolvedCase(t, wText)
	}
}

func evolvedWriters(t testing.TB) []string {
	flat := strings.NewReplacer(`,{"name":"m","type":{"type":"map","values":{"type":"array","items":"boolean"}}}`, "",
		` {"name":"gone_arr","type":{"type":"array","items":{"type":"record","name":"GEmpty","fields":[]}}},`+"\n", "").Replace(evolvedWriter)
	require.NotEqual(t, evolvedWriter, flat)
	return []string{evolvedWriter, flat}
}

func newResolvedCase(t testing.TB, wText string) *pathCase {
	w, err := ParseSchema(wText)
	require.NoError(t, err)
	rs, err := ParseSchema(evolvedReader)
	require.NoError(t, err)
	codec, err := goavro.NewCodec(wText)
	require.NoError(t, err)
	typ := reflect.TypeFor[evolvedEvent]()
	pl, err := compilePlan(typ, rs)
	require.NoError(t, err)
	res, err := compileResolver(w, rs, false)
	require.NoError(t, err)
	require.NotNil(t, res)
	rd, ok := compileReadResolved(typ, w, rs)
	require.True(t, ok)
	ws := &writerSchema{id: 9, schema: w, codec: codec, guard: hasBlocks(w, map[*Schema]bool{})}
	return &pathCase{name: "evolved", typ: typ, sch: w, dp: &decodePath{ws: ws, plan: pl, resolve: res, direct: rd}}
}

func testResolvedCase(t *testing.T, wText string) {
	c := newResolvedCase(t, wText)
	ws := c.dp.ws
	r := rand.New(rand.NewPCG(9, 10))
	accepted, rejected := 0, 0
	for i := 0; i < 4000; i++ {
		body := randBody(r, c.sch, nil)
		for _, b := range [][]byte{body, mutate(r, body)} {
			if c.agree(t, b, 1<<16) {
				accepted++
			} else {
				rejected++
			}
		}
	}
	t.Logf("guard %v: %d bodies accepted, %d rejected by both paths", ws.guard, accepted, rejected)
	require.Greater(t, accepted, 600)
	require.Greater(t, rejected, 600)

	// Changes other than added, removed or reordered fields stay with goavro.
	promoted, err := ParseSchema(`{"type":"record","name":"x.Ev","fields":[{"name":"keep1","type":"int"}]}`)
	require.NoError(t, err)
	type One struct {
		Keep1 int64 `avro:"keep1"`
	}
	onlyLong, err := ParseSchema(`{"type":"record","name":"x.Ev","fields":[{"name":"keep1","type":"long"}]}`)
	require.NoError(t, err)
	_, ok := compileReadResolved(reflect.TypeFor[One](), promoted, onlyLong)
	require.False(t, ok, "int→long promotion: goavro path")
}
