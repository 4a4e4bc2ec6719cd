package aggregate_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
)

// LoadAt answers "what did the account look like after its second event?"
// for an audit; LoadAsOf does the same for a point in time.
func ExampleRepository_LoadAt() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	repo := aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} })

	for _, cmd := range []func(*Account) error{
		func(a *Account) error { return a.Open("alice") },
		func(a *Account) error { return a.Deposit(100) },
		func(a *Account) error { return a.Withdraw(30) },
	} {
		if _, err := repo.Update(ctx, "acc-1", cmd); err != nil {
			fmt.Println("update:", err)
		}
	}

	then, err := repo.LoadAt(ctx, "acc-1", 2)
	if err != nil {
		fmt.Println("load at 2:", err)
	}
	now, err := repo.Load(ctx, "acc-1")
	if err != nil {
		fmt.Println("load:", err)
	}
	fmt.Printf("at version %d: %d; now (version %d): %d\n", then.AggregateVersion(), then.Balance, now.AggregateVersion(), now.Balance)

	_, err = repo.LoadAt(ctx, "acc-1", 7)
	fmt.Println(err, errors.Is(err, aggregate.ErrNotFound))
	// Output:
	// at version 2: 100; now (version 3): 70
	// aggregate "acc-1" has 3 events, no version 7: eventstore: stream not found true
}
