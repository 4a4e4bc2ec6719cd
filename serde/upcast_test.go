package serde_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
)

type upOpened struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
}

type upDeposited struct {
	ID       string `json:"id"`
	Cents    int64  `json:"cents"`
	Currency string `json:"currency"`
}

// Version 1 of upDeposited, kept as a Go type for a typed upcaster.
type upDepositedV1 struct {
	ID    string  `json:"id"`
	Euros float64 `json:"euros"`
}

func upcastSetup(t *testing.T) (*serde.Registry, *serde.Upcasters, *serde.UpcastingSerde) {
	reg := serde.NewRegistry()
	serde.MustRegister[upOpened](reg, "bank.Opened")
	serde.MustRegister[upDeposited](reg, "bank.Deposited")
	serde.MustRegister[upDepositedV1](reg, "bank.Deposited.v1")
	ups := serde.NewUpcasters()
	return reg, ups, serde.Upcasting(serde.NewJSON(reg), reg, ups)
}

func TestUpcastChainByVersion(t *testing.T) {
	ctx := context.Background()
	_, ups, s := upcastSetup(t)
	// v1 (typed, euros) → v2 (generic, cents) → current (adds currency).
	ups.MustRegister("bank.Deposited.v1", serde.UpcastFunc(func(_ context.Context, e serde.Generic) ([]serde.Generic, error) {
		v1 := e.Value.(upDepositedV1)
		return []serde.Generic{{Name: "bank.Deposited.v2", Value: map[string]any{"id": v1.ID, "cents": int64(v1.Euros * 100)}}}, nil
	}))
	ups.MustRegister("bank.Deposited.v2", serde.UpcastFunc(func(_ context.Context, e serde.Generic) ([]serde.Generic, error) {
		m := e.Value.(map[string]any)
		m["currency"] = "EUR"
		return []serde.Generic{{Name: "bank.Deposited", Value: m}}, nil
	}))
	v, err := s.Unmarshal(ctx, "bank.Deposited.v1", []byte(`{"id":"d1","euros":12.5}`))
	require.NoError(t, err)
	require.Equal(t, upDeposited{ID: "d1", Cents: 1250, Currency: "EUR"}, v)

	// v2 events (no Go type left) start in the middle of the chain, as
	// generic values with exact int64 numbers.
	v, err = s.Unmarshal(ctx, "bank.Deposited.v2", []byte(`{"id":"d2","cents":9007199254740993}`))
	require.NoError(t, err)
	require.Equal(t, upDeposited{ID: "d2", Cents: 9007199254740993, Currency: "EUR"}, v)

	// Current events pass through untouched.
	v, err = s.Unmarshal(ctx, "bank.Deposited", []byte(`{"id":"d3","cents":1,"currency":"USD"}`))
	require.NoError(t, err)
	require.Equal(t, upDeposited{ID: "d3", Cents: 1, Currency: "USD"}, v)

	_, data, err := s.Marshal(ctx, upDeposited{ID: "x"})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	require.Equal(t, "x", m["id"])
}

func TestUpcastRenameAndSplit(t *testing.T) {
	ctx := context.Background()
	_, ups, s := upcastSetup(t)
	ups.MustRegister("bank.AccountCreated", serde.Rename("bank.Opened"))
	ups.MustRegister("bank.OpenedWithDeposit", serde.UpcastFunc(func(_ context.Context, e serde.Generic) ([]serde.Generic, error) {
		m := e.Value.(map[string]any)
		return []serde.Generic{
			{Name: "bank.AccountCreated", Value: map[string]any{"id": m["id"], "owner": m["owner"]}}, // chains into Rename
			{Name: "bank.Deposited", Value: &upDeposited{ID: m["id"].(string), Cents: 100, Currency: "EUR"}},
		}, nil
	}))
	v, err := s.Unmarshal(ctx, "bank.AccountCreated", []byte(`{"id":"a","owner":"Ann"}`))
	require.NoError(t, err)
	require.Equal(t, upOpened{"a", "Ann"}, v)

	data := []byte(`{"id":"a","owner":"Ann"}`)
	_, err = s.Unmarshal(ctx, "bank.OpenedWithDeposit", data)
	require.ErrorIs(t, err, serde.ErrUpcast)
	require.ErrorContains(t, err, "UnmarshalAll")
	var mu serde.MultiUnmarshaler = s
	all, err := mu.UnmarshalAll(ctx, "bank.OpenedWithDeposit", data)
	require.NoError(t, err)
	require.Equal(t, []any{upOpened{"a", "Ann"}, upDeposited{"a", 100, "EUR"}}, all)
}

func TestUpcastErrors(t *testing.T) {
	ctx := context.Background()
	_, ups, s := upcastSetup(t)
	ups.MustRegister("a", serde.Rename("b"))
	ups.MustRegister("b", serde.Rename("a"))
	_, err := s.Unmarshal(ctx, "a", []byte(`{}`))
	require.ErrorIs(t, err, serde.ErrUpcast)
	require.ErrorContains(t, err, "cycle")

	require.ErrorIs(t, ups.Register("a", serde.Rename("c")), serde.ErrUpcast)
	require.Equal(t, []string{"a", "b"}, ups.Names())

	ups.MustRegister("gone", serde.Rename("nowhere"))
	_, err = s.Unmarshal(ctx, "gone", []byte(`{}`))
	require.ErrorIs(t, err, serde.ErrUnknownType)
	require.ErrorIs(t, err, serde.ErrUpcast)

	boom := errors.New("boom")
	ups.MustRegister("bad", serde.UpcastFunc(func(context.Context, serde.Generic) ([]serde.Generic, error) { return nil, boom }))
	_, err = s.Unmarshal(ctx, "bad", []byte(`{}`))
	require.ErrorIs(t, err, boom)

	_, err = s.Unmarshal(ctx, "gone", []byte(`{`))
	require.ErrorIs(t, err, serde.ErrMalformed)

	// An upcaster may drop an event.
	ups.MustRegister("obsolete", serde.UpcastFunc(func(context.Context, serde.Generic) ([]serde.Generic, error) { return nil, nil }))
	all, err := s.UnmarshalAll(ctx, "obsolete", []byte(`{}`))
	require.NoError(t, err)
	require.Empty(t, all)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Unmarshal(cctx, "a", []byte(`{}`))
	require.ErrorIs(t, err, context.Canceled)
}

// A type renamed from bank.Credit to bank.Deposited: old events are read
// through an upcaster, new ones are written under the new name.
func ExampleUpcasting() {
	type Deposited struct {
		Account string `json:"account"`
		Cents   int64  `json:"cents"`
	}
	reg := serde.NewRegistry()
	serde.MustRegister[Deposited](reg, "bank.Deposited")
	ups := serde.NewUpcasters()
	ups.MustRegister("bank.Credit", serde.UpcastFunc(func(_ context.Context, e serde.Generic) ([]serde.Generic, error) {
		old := e.Value.(map[string]any) // a JSON object; numbers are json.Number
		return []serde.Generic{{Name: "bank.Deposited", Value: map[string]any{"account": old["acct"], "cents": old["amount"]}}}, nil
	}))
	s := serde.Upcasting(serde.NewJSON(reg), reg, ups)

	v, err := s.Unmarshal(context.Background(), "bank.Credit", []byte(`{"acct":"a-1","amount":250}`))
	fmt.Printf("%+v %v\n", v, err)
	// Output: {Account:a-1 Cents:250} <nil>
}

// TypeNames of an upcasting serde are the inner serde's and every name
// that has an upcaster; the JSON serde's are the registered name.
func TestTypeNames(t *testing.T) {
	type A struct{}
	type B struct{}
	reg := serde.NewRegistry()
	serde.MustRegister[A](reg, "t.A")
	j := serde.NewJSON(reg)
	names, ok := j.TypeNames(reflect.TypeFor[A]())
	require.True(t, ok)
	require.Equal(t, []string{"t.A"}, names)
	_, ok = j.TypeNames(reflect.TypeFor[B]())
	require.False(t, ok)
	_, ok = j.TypeNames(reflect.TypeFor[*A]())
	require.False(t, ok, "pointer types are not registered")

	ups := serde.NewUpcasters()
	ups.MustRegister("t.A.v1", serde.Rename("t.A"))
	u := serde.Upcasting(j, reg, ups)
	var namer serde.TypeNamer = u
	names, ok = namer.TypeNames(reflect.TypeFor[A]())
	require.True(t, ok)
	require.Equal(t, []string{"t.A", "t.A.v1"}, names)
	_, ok = u.TypeNames(reflect.TypeFor[B]())
	require.False(t, ok)
}
