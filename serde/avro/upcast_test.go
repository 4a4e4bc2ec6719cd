package avro_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// A type renamed and reshaped: old events are bank.MoneyIn with a field
// "amt"; the current type is bank.Credited with "cents" and "currency".
type MoneyIn struct {
	Account string `avro:"account"`
	Amt     int32  `avro:"amt"`
}

type Credited struct {
	Account  string `avro:"account"`
	Cents    int64  `avro:"cents"`
	Currency string `avro:"currency,default=EUR"`
}

func TestAvroUpcastRenamedType(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "upcast")

	oldReg := serde.NewRegistry()
	serde.MustRegister[MoneyIn](oldReg, "bank.MoneyIn")
	oldSerde, err := avro.New(ctx, oldReg, client, topic)
	require.NoError(t, err)
	_, old, err := oldSerde.Marshal(ctx, MoneyIn{Account: "a", Amt: 42})
	require.NoError(t, err)

	// Today's code has no MoneyIn type, only an upcaster.
	reg := serde.NewRegistry()
	serde.MustRegister[Credited](reg, "bank.Credited")
	ups := serde.NewUpcasters()
	ups.MustRegister("bank.MoneyIn", serde.UpcastFunc(func(_ context.Context, e serde.Generic) ([]serde.Generic, error) {
		m := e.Value.(map[string]any) // goavro native, decoded with the writer's schema
		return []serde.Generic{{Name: "bank.Credited", Value: map[string]any{"account": m["account"], "cents": int64(m["amt"].(int32))}}}, nil
	}))
	inner, err := avro.New(ctx, reg, client, topic)
	require.NoError(t, err)
	s := serde.Upcasting(inner, reg, ups)

	v, err := s.Unmarshal(ctx, "bank.MoneyIn", old)
	require.NoError(t, err)
	require.Equal(t, Credited{Account: "a", Cents: 42, Currency: "EUR"}, v, "currency takes its schema default")

	_, cur, err := s.Marshal(ctx, Credited{Account: "b", Cents: 7, Currency: "USD"})
	require.NoError(t, err)
	v, err = s.Unmarshal(ctx, "bank.Credited", cur)
	require.NoError(t, err)
	require.Equal(t, Credited{Account: "b", Cents: 7, Currency: "USD"}, v)

	_, err = inner.FromGeneric(ctx, "bank.Credited", map[string]any{"cents": int64(1)})
	require.ErrorContains(t, err, `field "account" is missing`)
	_, err = inner.UnmarshalGeneric(ctx, "bank.MoneyIn", []byte{1, 2})
	require.ErrorIs(t, err, serde.ErrMalformed)
}

// Credited2 is bank.MoneyIn renamed, with its field renamed too: Avro
// aliases express both, no upcaster needed.
type Credited2 struct {
	Account string `avro:"account"`
	Cents   int64  `avro:"cents"`
}

func (Credited2) AvroAliases() []string { return []string{"bank.MoneyIn"} }

func TestAvroRenameWithAliases(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "alias")
	oldReg := serde.NewRegistry()
	serde.MustRegister[MoneyIn](oldReg, "bank.MoneyIn")
	oldSerde, err := avro.New(ctx, oldReg, client, topic)
	require.NoError(t, err)
	_, old, err := oldSerde.Marshal(ctx, MoneyIn{Account: "a", Amt: 42})
	require.NoError(t, err)

	const avsc = `{"type":"record","name":"bank.Credited","aliases":["bank.MoneyIn"],"fields":[
	  {"name":"account","type":"string"},{"name":"cents","type":"long","aliases":["amt"]}]}`
	reg := serde.NewRegistry()
	serde.MustRegister[Credited2](reg, "bank.Credited")
	s, err := avro.New(ctx, reg, client, topic, avro.WithSchema[Credited2](avsc))
	require.NoError(t, err)
	v, err := s.Unmarshal(ctx, "bank.MoneyIn", old) // es.type of the old event
	require.NoError(t, err)
	require.Equal(t, Credited2{Account: "a", Cents: 42}, v)

	_, err = s.Unmarshal(ctx, "bank.Unknown", old)
	require.ErrorIs(t, err, serde.ErrUnknownType)

	// Readers that filter by type name read the alias too.
	names, ok := s.TypeNames(reflect.TypeFor[Credited2]())
	require.True(t, ok)
	require.Equal(t, []string{"bank.Credited", "bank.MoneyIn"}, names)
	_, ok = s.TypeNames(reflect.TypeFor[MoneyIn]())
	require.False(t, ok, "not registered")

	// Derived schemas carry the aliases of AvroAliases.
	text, err := avro.DeriveSchema(reflect.TypeFor[Credited2](), "bank.Credited")
	require.NoError(t, err)
	require.Contains(t, text, `"aliases":["bank.MoneyIn"]`)
}
