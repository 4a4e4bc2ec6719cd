package avro_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// Version 1 of a deposit event.
type DepositV1 struct {
	Account string `avro:"account"`
	Amount  int32  `avro:"amount"`
	Note    string `avro:"note"`
	Kind    KindV1 `avro:"kind"`
}

type KindV1 string

func (KindV1) AvroSymbols() []string { return []string{"CASH", "WIRE"} }
func (KindV1) AvroDefault() string   { return "CASH" }

// Version 2: a new field with a default, a removed field (note), amount
// widened from int to long, a new enum symbol.
type DepositV2 struct {
	Account  string `avro:"account"`
	Amount   int64  `avro:"amount"`
	Currency string `avro:"currency,default=EUR"`
	Channel  *string
	Kind     KindV2 `avro:"kind"`
}

type KindV2 string

func (KindV2) AvroSymbols() []string { return []string{"CASH", "WIRE", "CARD"} }
func (KindV2) AvroDefault() string   { return "CASH" }
func (KindV2) AvroName() string      { return "KindV1" } // same Avro enum as v1

func TestEvolutionOldEventsStillDecode(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "evo")
	const name = "bank.Deposited"

	reg1 := serde.NewRegistry()
	serde.MustRegister[DepositV1](reg1, name)
	s1, err := avro.New(ctx, reg1, client, topic, avro.WithCompatibility(avro.FullTransitive))
	require.NoError(t, err)
	_, old, err := s1.Marshal(ctx, DepositV1{Account: "a-1", Amount: 250, Note: "salary", Kind: "WIRE"})
	require.NoError(t, err)

	reg2 := serde.NewRegistry()
	serde.MustRegister[DepositV2](reg2, name)
	s2, err := avro.New(ctx, reg2, client, topic, avro.WithCompatibility(avro.FullTransitive))
	require.NoError(t, err)

	// v2 reads v1 events: added field takes its default, removed field is
	// skipped, int is promoted to long.
	v, err := s2.Unmarshal(ctx, name, old)
	require.NoError(t, err)
	require.Equal(t, DepositV2{Account: "a-1", Amount: 250, Currency: "EUR", Kind: "WIRE"}, v)

	// Under FULL_TRANSITIVE v2 may not register: v1 code (still running
	// during a deploy) cannot read v2 data, since a long cannot be narrowed
	// to an int (and v1's note has no default).
	ch := "app"
	_, _, err = s2.Marshal(ctx, DepositV2{Account: "a-2", Amount: 1 << 40, Currency: "USD", Channel: &ch, Kind: "CARD"})
	require.ErrorIs(t, err, avro.ErrIncompatible)
	var ie *avro.IncompatibleError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "Deposited.amount", ie.Path)
	require.Equal(t, "reader type int cannot read writer type long", ie.Rule)
	require.Contains(t, ie.Direction, "forward")
	require.Equal(t, 1, ie.Version)

	// With BACKWARD (the registry default) v2 may register.
	s2b, err := avro.New(ctx, reg2, client, topic, avro.WithCompatibility(avro.Backward))
	require.NoError(t, err)
	_, newer, err := s2b.Marshal(ctx, DepositV2{Account: "a-2", Amount: 7, Currency: "USD", Channel: &ch, Kind: "CARD"})
	require.NoError(t, err)
	require.NotEqual(t, old[1:5], newer[1:5], "a new schema version")
	v, err = s2b.Unmarshal(ctx, name, newer)
	require.NoError(t, err)
	require.Equal(t, "USD", v.(DepositV2).Currency)

	// Old code reading new data: v1 with a default for note reads v2 data
	// (the long amount cannot be narrowed to int, so v1' declares long).
	const v1prime = `{"type":"record","name":"bank.Deposited","fields":[
	  {"name":"account","type":"string"},
	  {"name":"amount","type":"long"},
	  {"name":"note","type":"string","default":""},
	  {"name":"kind","type":{"type":"enum","name":"KindV1","symbols":["CASH","WIRE"],"default":"CASH"}}]}`
	type DepositV1Prime struct {
		Account string `avro:"account"`
		Amount  int64  `avro:"amount"`
		Note    string `avro:"note"`
		Kind    KindV1 `avro:"kind"`
	}
	reg1p := serde.NewRegistry()
	serde.MustRegister[DepositV1Prime](reg1p, name)
	s1p, err := avro.New(ctx, reg1p, client, topic, avro.WithSchema[DepositV1Prime](v1prime))
	require.NoError(t, err)
	v, err = s1p.Unmarshal(ctx, name, newer)
	require.NoError(t, err)
	require.Equal(t, DepositV1Prime{Account: "a-2", Amount: 7, Kind: "CASH"}, v)
}

func TestIncompatibleRegistrationIsRefused(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "incompat")
	const name = "bank.Withdrawn"
	type W1 struct {
		Amount int64 `avro:"amount"`
	}
	type W2 struct {
		Amount string `avro:"amount"` // type change
	}
	r1 := serde.NewRegistry()
	serde.MustRegister[W1](r1, name)
	s1, err := avro.New(ctx, r1, client, topic)
	require.NoError(t, err)
	_, _, err = s1.Marshal(ctx, W1{Amount: 1})
	require.NoError(t, err)

	r2 := serde.NewRegistry()
	serde.MustRegister[W2](r2, name)
	s2, err := avro.New(ctx, r2, client, topic)
	require.NoError(t, err)
	_, _, err = s2.Marshal(ctx, W2{Amount: "1"})
	require.ErrorIs(t, err, avro.ErrIncompatible)
	require.ErrorContains(t, err, "reader type string cannot read writer type long")
	require.ErrorContains(t, err, topic+"-"+name)
}

func TestUseLatestWritesWithTheLatestSchema(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "latest")
	const name = "bank.Deposited"
	// The pipeline registered v2 (with currency defaulting to EUR); this
	// service still runs v1' code without the currency field.
	type Old struct {
		Account string `avro:"account"`
		Amount  int64  `avro:"amount"`
	}
	const v2 = `{"type":"record","name":"bank.Deposited","fields":[
	  {"name":"account","type":"string"},
	  {"name":"amount","type":"long"},
	  {"name":"currency","type":"string","default":"EUR"}]}`
	subject := topic + "-" + name
	registered, err := client.CreateSchema(subject, v2, "AVRO")
	require.NoError(t, err)

	reg := serde.NewRegistry()
	serde.MustRegister[Old](reg, name)
	s, err := avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseLatest))
	require.NoError(t, err)
	_, data, err := s.Marshal(ctx, Old{Account: "a", Amount: 3})
	require.NoError(t, err)
	id := int(data[1])<<24 | int(data[2])<<16 | int(data[3])<<8 | int(data[4])
	require.Equal(t, registered.ID(), id)

	// A v2 reader sees the default the writer filled in.
	type New struct {
		Account  string `avro:"account"`
		Amount   int64  `avro:"amount"`
		Currency string `avro:"currency"`
	}
	reg2 := serde.NewRegistry()
	serde.MustRegister[New](reg2, name)
	s2, err := avro.New(ctx, reg2, client, topic, avro.WithSchema[New](v2))
	require.NoError(t, err)
	v, err := s2.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	require.Equal(t, New{"a", 3, "EUR"}, v)
}

func TestUseLatestRefreshesAfterTTL(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "ttl")
	const name = "bank.Deposited"
	type Dep struct {
		Account string `avro:"account"`
	}
	subject := topic + "-" + name
	v1, err := client.CreateSchema(subject, `{"type":"record","name":"bank.Deposited","fields":[{"name":"account","type":"string"}]}`, "AVRO")
	require.NoError(t, err)

	reg := serde.NewRegistry()
	serde.MustRegister[Dep](reg, name)
	cached, err := avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseLatest), avro.WithLatestTTL(time.Hour))
	require.NoError(t, err)
	fresh, err := avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseLatest), avro.WithLatestTTL(time.Nanosecond))
	require.NoError(t, err)
	for _, s := range []*avro.Serde{cached, fresh} {
		_, data, err := s.Marshal(ctx, Dep{"a"})
		require.NoError(t, err)
		require.Equal(t, v1.ID(), schemaID(data))
	}

	v2, err := client.CreateSchema(subject, `{"type":"record","name":"bank.Deposited","fields":[{"name":"account","type":"string"},{"name":"n","type":"int","default":0}]}`, "AVRO")
	require.NoError(t, err)
	require.NotEqual(t, v1.ID(), v2.ID())
	_, data, err := cached.Marshal(ctx, Dep{"a"})
	require.NoError(t, err)
	require.Equal(t, v1.ID(), schemaID(data), "within the TTL the cached latest schema is used")
	_, data, err = fresh.Marshal(ctx, Dep{"a"})
	require.NoError(t, err)
	require.Equal(t, v2.ID(), schemaID(data), "after the TTL the new latest schema is used")
	v, err := fresh.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	require.Equal(t, Dep{"a"}, v)
}

func schemaID(framed []byte) int {
	return int(framed[1])<<24 | int(framed[2])<<16 | int(framed[3])<<8 | int(framed[4])
}

func TestUseLatestKeepsWritingWhileRegistryIsDown(t *testing.T) {
	ctx := context.Background()
	fake := avrotest.Fake(t)
	client := avro.NewClient(fake.URL(), 5*time.Second)
	topic := uniqueTopic(t, "down")
	type Dep struct {
		Account string `avro:"account"`
	}
	sch, err := client.CreateSchema(topic+"-bank.Deposited", `{"type":"record","name":"bank.Deposited","fields":[{"name":"account","type":"string"}]}`, "AVRO")
	require.NoError(t, err)
	reg := serde.NewRegistry()
	serde.MustRegister[Dep](reg, "bank.Deposited")
	s, err := avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseLatest), avro.WithLatestTTL(time.Nanosecond), avro.WithRetry(1, 0))
	require.NoError(t, err)
	_, data, err := s.Marshal(ctx, Dep{"a"})
	require.NoError(t, err)
	require.Equal(t, sch.ID(), schemaID(data))

	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	_, data, err = s.Marshal(ctx, Dep{"b"})
	require.NoError(t, err, "the last latest schema is used while the registry is down")
	require.Equal(t, sch.ID(), schemaID(data))

	// Without a previous schema there is nothing to fall back to: a new
	// serde learns at New that the registry does not answer.
	_, err = avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseLatest), avro.WithRetry(1, 0))
	require.ErrorIs(t, err, avro.ErrRegistryUnavailable)
}
