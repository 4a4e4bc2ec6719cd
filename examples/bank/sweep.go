package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/examples/bank/account"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/projection/process"
)

// sweepSalaries starts the salary-sweep process manager: for every salary
// deposit to an account that has a savings account (its ID + "-savings"),
// it moves 10% of the deposit to savings, withdrawing from the account and
// depositing to savings in one atomic append, committed with the
// manager's consumer offset in the same Kafka transaction (exactly once,
// across crashes and rebalances). It returns a function that waits until
// the manager has processed the events at some positions, and one that
// stops it.
func sweepSalaries(ctx context.Context, w io.Writer, env *env, repo *aggregate.Repository[*account.Account]) (wait func(...eventstore.Position) error, stop func() error, err error) {
	store, ok := env.store.(*kafka.Store)
	if !ok {
		return nil, nil, errors.New("the sweep needs the Kafka store")
	}
	client, err := env.newClient()
	if err != nil {
		return nil, nil, err
	}
	group := "bank-salary-sweep" + env.idSuffix
	src, err := kafkaprojection.NewProcessSource(ctx, client, env.topic, group)
	if err != nil {
		_ = client.Close()
		return nil, nil, err
	}
	committer := kafkaprojection.NewProcessCommitter(store, client, env.topic, group)
	// What the manager decided, by input event: a handler may run more
	// than once for an event (after a conflict), so it records its
	// decision rather than printing it; the last decision is the one
	// committed.
	var mu sync.Mutex
	var order []string
	decided := map[string]string{}
	note := func(id, msg string) {
		mu.Lock()
		defer mu.Unlock()
		if _, seen := decided[id]; !seen {
			order = append(order, id)
		}
		decided[id] = msg
	}
	m, err := process.New("salary-sweep", env.serde, committer, []process.Handler{
		process.On(func(ctx context.Context, tx *aggregate.Tx, ev account.Deposited, meta projection.Meta) error {
			if ev.Reference != "salary" || strings.HasSuffix(meta.StreamID, "-savings") {
				return nil
			}
			savings, err := repo.LoadIn(tx, meta.StreamID+"-savings")
			if errors.Is(err, aggregate.ErrNotFound) {
				return nil // no savings account: nothing to sweep
			}
			if err != nil {
				return err
			}
			checking, err := repo.LoadIn(tx, meta.StreamID)
			if err != nil {
				return err
			}
			amount := ev.Amount / 10
			// The decision is made on the account as it is now, not as it
			// was at the deposit: an old salary the balance no longer
			// covers is not swept.
			if err := checking.Withdraw(amount, "sweep to savings"); errors.Is(err, account.ErrInsufficientFunds) {
				note(meta.EventID, fmt.Sprintf("salary %s at %s not swept, the balance no longer covers it", money(ev.Amount), meta.Position))
				return nil
			} else if err != nil {
				return err
			}
			note(meta.EventID, fmt.Sprintf("salary %s at %s: moved %s to savings", money(ev.Amount), meta.Position, money(amount)))
			return savings.Deposit(amount, "sweep from "+meta.StreamID)
		}),
	})
	if err != nil {
		_ = src.Close()
		_ = client.Close()
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx, src) }()
	wait = func(p ...eventstore.Position) error {
		if err := m.WaitFor(ctx, p...); err != nil {
			return fmt.Errorf("salary sweep: %w", err)
		}
		return nil
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			defer client.Close()
			defer src.Close()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				stopErr = fmt.Errorf("salary sweep: %w", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range order {
				fmt.Fprintf(w, "   sweep: %s\n", decided[id])
			}
		})
		return stopErr
	}
	return wait, stop, nil
}
