package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/examples/bank/account"
	"github.com/kafkaes/kafkaes/snapshot"
)

// scenario runs the scripted story and prints it.
func scenario(ctx context.Context, w io.Writer, env *env) error {
	alice, bob := "acc-alice"+env.idSuffix, "acc-bob"+env.idSuffix
	newRepo := func() *aggregate.Repository[*account.Account] {
		if env.snapshots == nil {
			return aggregate.NewRepository(env.store, env.serde, account.New, env.repoOpts...)
		}
		return aggregate.NewRepository(env.store, env.serde, account.New,
			append([]aggregate.Option{aggregate.WithSnapshots(env.snapshots, snapshot.EveryN(10))}, env.repoOpts...)...)
	}
	repo := newRepo()
	ctx = eventstore.ContextWithMetadata(ctx, eventstore.Metadata{CorrelationID: "bank-demo", Values: map[string]string{"user": "teller-1"}})
	step := func(title string) { fmt.Fprintf(w, "\n== %s\n", title) }
	show := func(a *account.Account) {
		fmt.Fprintf(w, "   %s: owner=%s balance=%s open=%v version=%d\n", a.AggregateID(), a.Owner, money(a.Balance), a.Open, a.AggregateVersion())
	}

	step("open accounts and move money")
	for _, c := range []struct{ id, owner string }{{alice, "Alice"}, {bob, "Bob"}} {
		a, err := repo.Update(ctx, c.id, func(a *account.Account) error { return a.OpenAccount(c.owner, "EUR") })
		if err != nil {
			return err
		}
		show(a)
	}
	if _, err := repo.Update(ctx, alice, func(a *account.Account) error { return a.Deposit(100_00, "salary") }); err != nil {
		return err
	}
	a, err := repo.Update(ctx, alice, func(a *account.Account) error { return a.Withdraw(30_00, "groceries") })
	if err != nil {
		return err
	}
	show(a)

	step("a rejected command: overdraft")
	_, err = repo.Update(ctx, alice, func(a *account.Account) error { return a.Withdraw(500_00, "car") })
	if !errors.Is(err, account.ErrInsufficientFunds) {
		return fmt.Errorf("expected an overdraft to be rejected, got %v", err)
	}
	fmt.Fprintf(w, "   rejected: %v (nothing was written)\n", err)

	step("a concurrent update, retried after a conflict")
	attempts := 0
	a, err = repo.Update(ctx, alice, func(a *account.Account) error {
		attempts++
		fmt.Fprintf(w, "   attempt %d: teller sees balance %s at version %d\n", attempts, money(a.Balance), a.AggregateVersion())
		if attempts == 1 {
			// Another service instance deposits while this command is in
			// flight, so this attempt's save conflicts.
			if _, err := repo.Update(ctx, alice, func(o *account.Account) error { return o.Deposit(5_00, "interest") }); err != nil {
				return err
			}
			fmt.Fprintln(w, "   meanwhile another instance deposited 5.00")
		}
		return a.Withdraw(70_00, "rent")
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   saved after %d attempts (the first met a concurrency conflict and was retried)\n", attempts)
	show(a)

	step("no deposit to a closed account")
	if _, err := repo.Update(ctx, bob, func(a *account.Account) error { return a.Close("moved abroad") }); err != nil {
		return err
	}
	_, err = repo.Update(ctx, bob, func(a *account.Account) error { return a.Deposit(10_00, "gift") })
	if !errors.Is(err, account.ErrClosed) {
		return fmt.Errorf("expected a deposit to a closed account to be rejected, got %v", err)
	}
	fmt.Fprintf(w, "   rejected: %v\n", err)

	step("an expected-version conflict, seen directly")
	stale, err := repo.Load(ctx, alice)
	if err != nil {
		return err
	}
	if _, err := repo.Update(ctx, alice, func(a *account.Account) error { return a.Deposit(1_00, "coffee refund") }); err != nil {
		return err
	}
	_ = stale.Deposit(2_00, "stale write")
	err = repo.Save(ctx, stale)
	var conflict *eventstore.ConflictError
	if !errors.As(err, &conflict) {
		return fmt.Errorf("expected a conflict saving a stale aggregate, got %v", err)
	}
	fmt.Fprintf(w, "   stale save refused: stream %s expected version %s, actual %d\n", conflict.StreamID, conflict.Expected, conflict.Actual)

	step("a long history, loaded from a snapshot")
	for day := 1; day <= 20; day++ {
		if _, err := repo.Update(ctx, alice, func(a *account.Account) error { return a.Deposit(1, fmt.Sprintf("interest day %d", day)) }); err != nil {
			return err
		}
	}
	if env.snapshots != nil {
		if err := repo.FlushSnapshots(ctx); err != nil {
			return err
		}
		fresh := newRepo() // as another service instance would
		a, err := fresh.Load(ctx, alice)
		if err != nil {
			return err
		}
		if s, err := env.snapshots.Load(ctx, alice); err == nil {
			fmt.Fprintf(w, "   served from the snapshot at version %d + %d later events, instead of replaying all %d\n",
				s.Version, a.AggregateVersion()-s.Version, a.AggregateVersion())
		}
		st := fresh.SnapshotStats()
		fmt.Fprintf(w, "   a fresh repository loaded %s at version %d: snapshot hits=%d misses=%d ignored=%d (snapshots taken by the writer: %d)\n",
			a.AggregateID(), a.AggregateVersion(), st.Hits, st.Misses, st.Ignored, repo.SnapshotStats().Taken)
	}

	step("a transfer: two accounts changed in one atomic append")
	carol := "acc-carol" + env.idSuffix
	if _, err := repo.Update(ctx, carol, func(a *account.Account) error { return a.OpenAccount("Carol", "EUR") }); err != nil {
		return err
	}
	transfer := func(from, to string, amount int64, memo string) error {
		// Transact loads both accounts through one transaction and saves
		// the withdrawal and the deposit in one multi-stream append: both
		// are written, or neither. If either account changes meanwhile,
		// the function runs again on fresh loads.
		return aggregate.Transact(ctx, func(tx *aggregate.Tx) error {
			src, err := repo.LoadIn(tx, from)
			if err != nil {
				return err
			}
			dst, err := repo.LoadIn(tx, to)
			if err != nil {
				return err
			}
			if err := src.Withdraw(amount, memo); err != nil {
				return err
			}
			return dst.Deposit(amount, memo)
		}, env.repoOpts...)
	}
	if err := transfer(alice, carol, 1_00, "transfer to Carol"); err != nil {
		return err
	}
	fmt.Fprintln(w, "   moved 1.00 from Alice to Carol in one transaction")
	err = transfer(carol, alice, 50_00, "transfer to Alice")
	if !errors.Is(err, account.ErrInsufficientFunds) {
		return fmt.Errorf("expected a transfer beyond Carol's balance to be rejected, got %v", err)
	}
	fmt.Fprintf(w, "   rejected: %v (neither account was written)\n", err)
	err = transfer(alice, bob, 1_00, "transfer to Bob")
	if !errors.Is(err, account.ErrClosed) {
		return fmt.Errorf("expected a transfer to a closed account to be rejected, got %v", err)
	}
	fmt.Fprintf(w, "   rejected: %v (Alice's withdrawal was not written either)\n", err)

	step("a process manager: every salary deposit sweeps 10% to savings, exactly once")
	savings := alice + "-savings"
	sv, err := repo.Update(ctx, savings, func(a *account.Account) error { return a.OpenAccount("Alice", "EUR") })
	if err != nil {
		return err
	}
	wait, stop, err := sweepSalaries(ctx, w, env, repo)
	if err != nil {
		return err
	}
	defer stop() //nolint:errcheck // stopped below; this covers early returns
	// The manager starts at the beginning of the log: it first goes
	// through the history (Alice's first salary is no longer covered).
	history := []eventstore.Position{sv.Appended().Positions[0]}
	cur, err := repo.Load(ctx, alice)
	if err != nil {
		return err
	}
	for ev, err := range env.store.ReadStream(ctx, alice, cur.AggregateVersion()) {
		if err != nil {
			return err
		}
		history = append(history, ev.Position)
	}
	if err := wait(history...); err != nil {
		return err
	}
	a, err = repo.Update(ctx, alice, func(a *account.Account) error { return a.Deposit(50_00, "salary") })
	if err != nil {
		return err
	}
	if err := wait(a.Appended().Positions[0]); err != nil {
		return err
	}
	if err := stop(); err != nil {
		return err
	}
	fmt.Fprintln(w, "   each sweep (a withdrawal, a deposit and the manager's consumer offset) was one Kafka transaction")

	step("final state")
	for _, id := range []string{alice, savings, bob, carol} {
		a, err := repo.Load(ctx, id)
		if err != nil {
			return err
		}
		show(a)
	}

	step("event log")
	for ev, err := range env.store.ReadAll(ctx, nil) {
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   %-10s v%d %-20s %s\n", ev.StreamID, ev.Version, ev.Type, describe(ctx, env, ev))
	}
	return nil
}

// describe decodes an event for printing.
func describe(ctx context.Context, env *env, ev eventstore.RecordedEvent) string {
	if eventstore.IsMarker(ev.Type) {
		// A stream's lifecycle marker (deleted, truncated), written by the
		// store: not an event of the bank's serde.
		m, ok := eventstore.ParseMarker(ev.Event)
		switch {
		case !ok:
			return "lifecycle marker (not valid)"
		case m.Kind == eventstore.MarkerTruncated:
			return fmt.Sprintf("stream truncated: reads start at version %d", m.Before)
		}
		return "stream deleted"
	}
	v, err := env.serde.Unmarshal(ctx, ev.Type, ev.Data)
	if err != nil {
		return "undecodable: " + err.Error()
	}
	return fmt.Sprintf("%+v", v)
}

func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
