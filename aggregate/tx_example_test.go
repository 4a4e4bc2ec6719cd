package aggregate_test

import (
	"context"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
)

// Transact runs one command over several aggregates and saves all of
// their changes in one atomic multi-stream append: a transfer debits one
// account and credits another, or does neither. On a conflict (either
// account changed meanwhile) the function runs again on fresh loads.
func ExampleTransact() {
	ctx := context.Background()
	accounts := aggregate.NewRepository(memory.New(), serde.NewJSON(accountRegistry()), func() *Account { return &Account{} })
	for id, deposit := range map[string]int64{"alice": 100, "bob": 0} {
		if _, err := accounts.Update(ctx, id, func(a *Account) error {
			if err := a.Open(id); err != nil {
				return err
			}
			if deposit > 0 {
				return a.Deposit(deposit)
			}
			return nil
		}); err != nil {
			panic(err)
		}
	}

	transfer := func(from, to string, amount int64) error {
		return aggregate.Transact(ctx, func(tx *aggregate.Tx) error {
			a, err := accounts.LoadIn(tx, from)
			if err != nil {
				return err
			}
			b, err := accounts.LoadIn(tx, to)
			if err != nil {
				return err
			}
			if err := a.Withdraw(amount); err != nil {
				return err
			}
			return b.Deposit(amount)
		})
	}
	fmt.Println(transfer("alice", "bob", 30))
	fmt.Println(transfer("bob", "alice", 500)) // refused whole: nothing is written

	for _, id := range []string{"alice", "bob"} {
		a, _ := accounts.Load(ctx, id)
		fmt.Printf("%s: %d (version %d)\n", id, a.Balance, a.AggregateVersion())
	}
	// Output:
	// <nil>
	// insufficient funds
	// alice: 70 (version 3)
	// bob: 30 (version 2)
}
