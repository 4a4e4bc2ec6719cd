package serde_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
)

type (
	Opened    struct{ Owner string }
	Deposited struct{ Amount int64 }
	Renamed   struct{ Owner string }
)

func TestRegistry(t *testing.T) {
	reg := serde.NewRegistry()
	require.NoError(t, serde.Register[Opened](reg, "bank.Opened"))
	require.NoError(t, serde.Register[Opened](reg, "bank.Opened"), "registering the same pair twice is a no-op")
	require.NoError(t, serde.Register[Deposited](reg, "bank.Deposited"))

	err := serde.Register[Renamed](reg, "bank.Opened")
	require.Error(t, err, "a name is for one type only")
	assert.Contains(t, err.Error(), `"bank.Opened" is already registered`)
	assert.Contains(t, err.Error(), "serde_test.Opened")

	err = serde.Register[Opened](reg, "bank.OpenedV2")
	require.Error(t, err, "a type has one name only")
	assert.Contains(t, err.Error(), `already registered as "bank.Opened"`)

	err = serde.Register[*Renamed](reg, "bank.Renamed")
	require.Error(t, err, "pointer types are rejected")
	assert.Contains(t, err.Error(), "not a pointer")
	err = serde.Register[fmt.Stringer](reg, "bank.Stringer")
	require.Error(t, err, "interface types are rejected")
	err = serde.Register[Renamed](reg, "")
	require.Error(t, err, "empty names are rejected")
	assert.Contains(t, err.Error(), "empty name")
	require.Error(t, reg.RegisterType(nil, "bank.Nil"))

	for _, v := range []any{Opened{}, &Opened{Owner: "x"}} {
		name, err := reg.Name(v)
		require.NoError(t, err, "%T", v)
		assert.Equal(t, "bank.Opened", name, "Name of %T", v)
	}
	for _, v := range []any{Renamed{}, &Renamed{}, nil, 42} {
		_, err := reg.Name(v)
		require.ErrorIs(t, err, serde.ErrUnknownType, "%T", v)
	}
	_, err = reg.Name(Renamed{})
	assert.Contains(t, err.Error(), "serde.Register[serde_test.Renamed]", "the error says how to fix it")

	typ, err := reg.Type("bank.Deposited")
	require.NoError(t, err)
	assert.Equal(t, reflect.TypeFor[Deposited](), typ)
	_, err = reg.Type("bank.Closed")
	require.ErrorIs(t, err, serde.ErrUnknownType)
	assert.Contains(t, err.Error(), `"bank.Closed"`)

	assert.Equal(t, []string{"bank.Deposited", "bank.Opened"}, reg.Names())
	assert.Panics(t, func() { serde.MustRegister[Renamed](reg, "bank.Opened") })
	assert.NotPanics(t, func() { serde.MustRegister[Renamed](reg, "bank.Renamed") })
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := serde.NewRegistry(), serde.NewRegistry()
	serde.MustRegister[Opened](a, "a.Opened")
	serde.MustRegister[Opened](b, "b.Opened")
	na, _ := a.Name(Opened{})
	nb, _ := b.Name(Opened{})
	assert.Equal(t, "a.Opened", na)
	assert.Equal(t, "b.Opened", nb)
}

func TestRegistryConcurrentUse(t *testing.T) {
	reg := serde.NewRegistry()
	serde.MustRegister[Opened](reg, "bank.Opened")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if i == 0 {
					_ = reg.RegisterType(reflect.ArrayOf(j+1, reflect.TypeFor[byte]()), fmt.Sprintf("array.%d", j))
				}
				if n, err := reg.Name(Opened{}); err != nil || n != "bank.Opened" {
					t.Errorf("Name = %q, %v", n, err)
				}
				_, _ = reg.Type("array.3")
				_ = reg.Names()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, reg.Names(), 51)
}
