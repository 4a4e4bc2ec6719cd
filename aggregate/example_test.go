package aggregate_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
)

// Account is an event-sourced bank account: its state is built only by
// applying events, and its command methods decide which events to raise.
type Account struct {
	aggregate.Root
	Owner   string
	Balance int64
}

// The events of an account. They are plain values; their stable names are
// given at registration.
type (
	AccountOpened  struct{ Owner string }
	MoneyDeposited struct{ Amount int64 }
	MoneyWithdrawn struct{ Amount int64 }
)

// Domain errors are returned by Update exactly as the command returned them.
var (
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrInvalidAmount     = errors.New("amount must be positive")
	ErrAlreadyOpen       = errors.New("account already open")
)

// Apply changes the state for one event; it never fails.
func (a *Account) Apply(event any) {
	switch e := event.(type) {
	case AccountOpened:
		a.Owner = e.Owner
	case MoneyDeposited:
		a.Balance += e.Amount
	case MoneyWithdrawn:
		a.Balance -= e.Amount
	}
}

// Open is a command: it checks the invariants, then raises an event.
func (a *Account) Open(owner string) error {
	if a.AggregateVersion() > 0 {
		return ErrAlreadyOpen
	}
	aggregate.Raise(a, AccountOpened{Owner: owner})
	return nil
}

// Deposit adds money.
func (a *Account) Deposit(amount int64) error {
	if amount <= 0 {
		return ErrInvalidAmount
	}
	aggregate.Raise(a, MoneyDeposited{Amount: amount})
	return nil
}

// Withdraw takes money out, if there is enough.
func (a *Account) Withdraw(amount int64) error {
	if amount <= 0 {
		return ErrInvalidAmount
	}
	if amount > a.Balance {
		return ErrInsufficientFunds
	}
	aggregate.Raise(a, MoneyWithdrawn{Amount: amount})
	return nil
}

// accountRegistry registers the account events under stable names.
func accountRegistry() *serde.Registry {
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, "bank.AccountOpened")
	serde.MustRegister[MoneyDeposited](reg, "bank.MoneyDeposited")
	serde.MustRegister[MoneyWithdrawn](reg, "bank.MoneyWithdrawn")
	return reg
}

// A repository stores an Account as a stream of events. Update loads the
// account, runs a command and saves the events it raised, retrying on
// concurrency conflicts; a domain error comes back unchanged and nothing is
// saved.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	repo := aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} })

	if _, err := repo.Update(ctx, "acc-1", func(a *Account) error { return a.Open("alice") }); err != nil {
		fmt.Println("open:", err)
	}
	acc, err := repo.Update(ctx, "acc-1", func(a *Account) error { return a.Deposit(100) })
	if err != nil {
		fmt.Println("deposit:", err)
	}
	fmt.Println("balance after deposit:", acc.Balance)

	_, err = repo.Update(ctx, "acc-1", func(a *Account) error { return a.Withdraw(500) })
	fmt.Println("withdraw 500:", err, errors.Is(err, ErrInsufficientFunds))

	acc, err = repo.Load(ctx, "acc-1")
	if err != nil {
		fmt.Println("load:", err)
	}
	fmt.Printf("%s has %d at version %d\n", acc.Owner, acc.Balance, acc.AggregateVersion())

	for rec, err := range store.ReadStream(ctx, "acc-1", 1) {
		if err != nil {
			fmt.Println("read:", err)
			break
		}
		fmt.Println(rec.Version, rec.Type, string(rec.Data))
	}

	_, err = repo.Load(ctx, "acc-2")
	fmt.Println("acc-2 not found:", errors.Is(err, aggregate.ErrNotFound))
	// Output:
	// balance after deposit: 100
	// withdraw 500: insufficient funds true
	// alice has 100 at version 2
	// 1 bank.AccountOpened {"Owner":"alice"}
	// 2 bank.MoneyDeposited {"Amount":100}
	// acc-2 not found: true
}
