package serde_test

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
)

type Numbers struct {
	Max, Min, Beyond53 int64
	U                  uint64
	Ptr                *int64
	Any                any
	Map                map[string]any
	List               []any
	F                  float64
}

type Wide struct {
	Name  string
	Bytes []byte
	Tags  map[string]string
	Items []Deposited
}

func jsonSerde(t testing.TB) *serde.JSON {
	reg := serde.NewRegistry()
	serde.MustRegister[Numbers](reg, "test.Numbers")
	serde.MustRegister[Wide](reg, "test.Wide")
	serde.MustRegister[Deposited](reg, "bank.Deposited")
	return serde.NewJSON(reg)
}

func TestJSONKeepsInt64Exact(t *testing.T) {
	sd := jsonSerde(t)
	ctx := context.Background()
	big := int64(1)<<53 + 1 // not representable as float64
	v := Numbers{
		Max: math.MaxInt64, Min: math.MinInt64, Beyond53: big, U: math.MaxUint64, Ptr: &big,
		Any:  int64(math.MaxInt64),
		Map:  map[string]any{"n": int64(math.MinInt64), "nested": map[string]any{"m": big}},
		List: []any{big, "x", true, nil},
		F:    0.1,
	}
	name, data, err := sd.Marshal(ctx, &v)
	require.NoError(t, err)
	assert.Equal(t, "test.Numbers", name)
	got, err := sd.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	n, ok := got.(Numbers)
	require.True(t, ok, "Unmarshal returns the registered value type, got %T", got)
	assert.Equal(t, int64(math.MaxInt64), n.Max)
	assert.Equal(t, int64(math.MinInt64), n.Min)
	assert.Equal(t, big, n.Beyond53)
	assert.Equal(t, uint64(math.MaxUint64), n.U)
	assert.Equal(t, big, *n.Ptr)
	assert.Equal(t, json.Number("9223372036854775807"), n.Any, "numbers in interface fields stay exact as json.Number")
	assert.Equal(t, json.Number("-9223372036854775808"), n.Map["n"])
	assert.Equal(t, json.Number("9007199254740993"), n.Map["nested"].(map[string]any)["m"])
	assert.Equal(t, []any{json.Number("9007199254740993"), "x", true, nil}, n.List)
	assert.Equal(t, 0.1, n.F)

	// Re-encoding the decoded value gives the same bytes.
	_, again, err := sd.Marshal(ctx, n)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(again))
}

func TestJSONRoundTrip(t *testing.T) {
	sd := jsonSerde(t)
	ctx := context.Background()
	in := Wide{Name: "Zoë ✓", Bytes: []byte{0, 1, 0xff}, Tags: map[string]string{"a": "b"}, Items: []Deposited{{1}, {-2}}}
	name, data, err := sd.Marshal(ctx, in)
	require.NoError(t, err)
	out, err := sd.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func TestJSONErrors(t *testing.T) {
	sd := jsonSerde(t)
	ctx := context.Background()

	_, _, err := sd.Marshal(ctx, Opened{})
	require.ErrorIs(t, err, serde.ErrUnknownType)
	_, err = sd.Unmarshal(ctx, "bank.Closed", []byte(`{}`))
	require.ErrorIs(t, err, serde.ErrUnknownType)
	assert.Contains(t, err.Error(), "bank.Closed")

	for _, bad := range []string{``, `{`, `{"Amount":"x"}`, `{"Amount":1.5}`, `{"Amount":99999999999999999999}`, `[1]`, `{} {}`, `{}x`, "\xff"} {
		_, err := sd.Unmarshal(ctx, "bank.Deposited", []byte(bad))
		require.ErrorIs(t, err, serde.ErrMalformed, "%q", bad)
		assert.Contains(t, err.Error(), "bank.Deposited", "%q", bad)
	}

	v, err := sd.Unmarshal(ctx, "bank.Deposited", []byte(`{"Amount":3,"Note":"from a newer writer"}`))
	require.NoError(t, err, "unknown fields are tolerated by default")
	assert.Equal(t, Deposited{Amount: 3}, v)
	strict := jsonSerde(t)
	strict.DisallowUnknownFields = true
	_, err = strict.Unmarshal(ctx, "bank.Deposited", []byte(`{"Amount":3,"Note":"x"}`))
	require.ErrorIs(t, err, serde.ErrMalformed)
	assert.Contains(t, err.Error(), "Note")

	reg := serde.NewRegistry()
	serde.MustRegister[Numbers](reg, "test.Numbers")
	_, _, err = serde.NewJSON(reg).Marshal(ctx, Numbers{F: math.NaN()})
	require.Error(t, err, "values JSON cannot hold are an error, not a panic")
	assert.Contains(t, err.Error(), "test.Numbers")
}

// FuzzJSONUnmarshal feeds arbitrary bytes to the JSON serde: it must never
// panic, and whatever it accepts must survive a round trip unchanged.
func FuzzJSONUnmarshal(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"Amount":1}`, `{"Max":9223372036854775807,"Any":{"a":[1,2.5,"x",null]}}`,
		`{"Name":"x","Bytes":"AAH/","Tags":{"k":"v"},"Items":[{"Amount":-1}]}`,
		`null`, `[`, `{"Any":1e400}`, "\"\xff\"", `{"Map":{"n":-0}}`,
	} {
		for _, name := range []uint8{0, 1, 2} {
			f.Add(name, []byte(seed))
		}
	}
	names := []string{"test.Numbers", "test.Wide", "bank.Deposited"}
	sd := jsonSerde(f)
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		ctx := context.Background()
		name := names[int(which)%len(names)]
		v, err := sd.Unmarshal(ctx, name, data)
		if err != nil {
			return
		}
		if reflect.TypeOf(v).Kind() == reflect.Pointer {
			t.Fatalf("Unmarshal returned a pointer %T", v)
		}
		gotName, enc, err := sd.Marshal(ctx, v)
		if err != nil {
			t.Fatalf("decoded %q into %#v, which does not encode again: %v", data, v, err)
		}
		if gotName != name {
			t.Fatalf("name %q became %q", name, gotName)
		}
		back, err := sd.Unmarshal(ctx, name, enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(v, back) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", v, back)
		}
	})
}
