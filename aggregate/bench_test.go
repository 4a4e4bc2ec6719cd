package aggregate_test

import (
	"context"
	"testing"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
)

// BenchmarkUpdate measures a whole command (load, decide, encode, append)
// on an aggregate with a short history, with the memory store and JSON.
// Compare with BenchmarkRawAppend, the store call alone.
func BenchmarkUpdate(b *testing.B) {
	store := memory.New()
	repo := aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} })
	ctx := context.Background()
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, id := range ids {
		if _, err := repo.Update(ctx, id, func(a *Account) error { return a.Open("x") }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := repo.Update(ctx, ids[i%len(ids)], func(a *Account) error { return a.Deposit(1) }); err != nil {
			b.Fatal(err)
		}
		i++
		if i%(8*16) == 0 { // keep histories at most 17 events long: move on to new streams
			for j := range ids {
				ids[j] += "x"
				if _, err := repo.Update(ctx, ids[j], func(a *Account) error { return a.Open("x") }); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkRawAppend is the store call BenchmarkUpdate makes, without the
// repository: one append of one pre-encoded event.
func BenchmarkRawAppend(b *testing.B) {
	store := memory.New()
	ctx := context.Background()
	data := []byte(`{"Amount":1}`)
	b.ReportAllocs()
	v := int64(0)
	for b.Loop() {
		if _, err := store.Append(ctx, "raw", eventstore.Exact(v), eventstore.Event{Type: "bank.MoneyDeposited", Data: data}); err != nil {
			b.Fatal(err)
		}
		v++
	}
}
