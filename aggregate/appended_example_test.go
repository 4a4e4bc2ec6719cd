package aggregate_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

// Read your own writes: the aggregate Update returns reports the positions
// of the events it appended, and the projection's WaitFor blocks until the
// view has processed them.
func ExampleRoot_Appended() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	sd := serde.NewJSON(accountRegistry())
	repo := aggregate.NewRepository(store, sd, func() *Account { return &Account{} })

	var mu sync.Mutex
	balances := map[string]int64{}
	runner, err := projection.New("balances", sd, []projection.Handler{
		projection.On(func(_ context.Context, ev MoneyDeposited, m projection.Meta) error {
			mu.Lock()
			defer mu.Unlock()
			balances[m.StreamID] += ev.Amount
			return nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = runner.Run(rctx, projection.FromStore(store)) }()

	acc, err := repo.Update(ctx, "acc-1", func(a *Account) error {
		if err := a.Open("alice"); err != nil {
			return err
		}
		return a.Deposit(40)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res := acc.Appended()
	fmt.Println("appended up to version", res.Version, "at", len(res.Positions), "positions")
	if err := runner.WaitFor(ctx, res.Positions...); err != nil {
		fmt.Println(err) // the runner's own error, if it stopped
		return
	}
	mu.Lock()
	fmt.Println("the view shows", balances["acc-1"])
	mu.Unlock()

	// A command that raises nothing appends nothing: WaitFor returns at once.
	acc, _ = repo.Update(ctx, "acc-1", func(*Account) error { return nil })
	fmt.Println("nothing appended:", len(acc.Appended().Positions) == 0, runner.WaitFor(ctx, acc.Appended().Positions...))
	// Output:
	// appended up to version 2 at 2 positions
	// the view shows 40
	// nothing appended: true <nil>
}
