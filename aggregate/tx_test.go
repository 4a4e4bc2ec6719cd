package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// transfer moves amount from one account to another in one transaction.
func transfer(ctx context.Context, repo *aggregate.Repository[*Account], from, to string, amount int64, opts ...aggregate.Option) error {
	return aggregate.Transact(ctx, func(tx *aggregate.Tx) error {
		a, err := repo.LoadIn(tx, from)
		if err != nil {
			return err
		}
		b, err := repo.LoadIn(tx, to)
		if err != nil {
			return err
		}
		if err := a.Withdraw(amount); err != nil {
			return err
		}
		return b.Deposit(amount)
	}, opts...)
}

func balance(t *testing.T, repo *aggregate.Repository[*Account], id string) int64 {
	t.Helper()
	a, err := repo.Load(context.Background(), id)
	require.NoError(t, err)
	return a.Balance
}

func TestTransactTransfer(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	open(t, repo, "a", 100)
	open(t, repo, "b", 0)
	var from, to *Account
	err := aggregate.Transact(context.Background(), func(tx *aggregate.Tx) error {
		var err error
		if from, err = repo.LoadIn(tx, "a"); err != nil {
			return err
		}
		if to, err = repo.LoadIn(tx, "b"); err != nil {
			return err
		}
		again, err := repo.LoadIn(tx, "a")
		require.NoError(t, err)
		require.Same(t, from, again, "loading an aggregate twice in a transaction gives the same value")
		if err := from.Withdraw(30); err != nil {
			return err
		}
		return to.Deposit(30)
	})
	require.NoError(t, err)
	require.Equal(t, int64(3), from.Appended().Version)
	require.Equal(t, int64(2), to.Appended().Version)
	require.Len(t, from.Appended().Positions, 1)
	require.Empty(t, from.Changes(), "changes are marked saved")
	require.Equal(t, int64(70), balance(t, repo, "a"))
	require.Equal(t, int64(30), balance(t, repo, "b"))

	// A domain error comes back as is, and nothing is saved.
	n := store.Len()
	err = transfer(context.Background(), repo, "b", "a", 1000)
	require.ErrorIs(t, err, ErrInsufficientFunds)
	require.Equal(t, n, store.Len())

	// A missing aggregate.
	err = transfer(context.Background(), repo, "a", "nobody", 1)
	require.ErrorIs(t, err, aggregate.ErrNotFound)
	require.Equal(t, n, store.Len())
}

// A command that only reads an aggregate still depends on it: when that
// aggregate changes before the commit, the command runs again.
func TestTransactConditionOnReadAggregate(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
	open(t, repo, "limit", 50) // the balance of "limit" caps each deposit
	open(t, repo, "target", 0)
	calls := 0
	err := aggregate.Transact(context.Background(), func(tx *aggregate.Tx) error {
		calls++
		limit, err := repo.LoadIn(tx, "limit")
		if err != nil {
			return err
		}
		target, err := repo.LoadIn(tx, "target")
		if err != nil {
			return err
		}
		if calls == 1 {
			// Someone changes the aggregate the decision read.
			_, err := repo.Update(context.Background(), "limit", func(a *Account) error { return a.Withdraw(40) })
			require.NoError(t, err)
		}
		return target.Deposit(limit.Balance)
	}, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 2, calls, "the command must run again after the aggregate it read changed")
	require.Equal(t, int64(10), balance(t, repo, "target"), "the deposit uses the limit as it is at the commit")
	require.Equal(t, int64(3), mustLoad(t, repo, "limit").AggregateVersion(), "the read aggregate is not written")
}

func mustLoad(t *testing.T, repo *aggregate.Repository[*Account], id string) *Account {
	t.Helper()
	a, err := repo.Load(context.Background(), id)
	require.NoError(t, err)
	return a
}

func TestTransactNewAggregates(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	open(t, repo, "a", 100)
	err := aggregate.Transact(context.Background(), func(tx *aggregate.Tx) error {
		a, err := repo.LoadIn(tx, "a")
		if err != nil {
			return err
		}
		c, err := repo.LoadOrNewIn(tx, "c")
		if err != nil {
			return err
		}
		if err := c.Open("carol"); err != nil {
			return err
		}
		if err := a.Withdraw(10); err != nil {
			return err
		}
		return c.Deposit(10)
	})
	require.NoError(t, err)
	require.Equal(t, int64(10), balance(t, repo, "c"))
	require.Equal(t, int64(90), balance(t, repo, "a"))
}

// Concurrent transfers among a few accounts conflict and retry; the money
// in the accounts stays the same, and every transfer is saved whole.
func TestTransactConcurrentTransfers(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	const accounts, initial = 4, 1000
	for i := range accounts {
		open(t, repo, fmt.Sprint("acc-", i), initial)
	}
	var (
		wg        sync.WaitGroup
		succeeded atomic.Int64
		errs      = make(chan error, 100)
	)
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 20 {
				i, j := rng.IntN(accounts), rng.IntN(accounts-1)
				if j >= i {
					j++
				}
				err := transfer(context.Background(), repo, fmt.Sprint("acc-", i), fmt.Sprint("acc-", j), 1+rng.Int64N(20),
					aggregate.WithRetry(50, time.Microsecond, 2*time.Millisecond))
				switch {
				case err == nil:
					succeeded.Add(1)
				case errors.Is(err, ErrInsufficientFunds):
				default:
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := int64(0)
	for i := range accounts {
		total += balance(t, repo, fmt.Sprint("acc-", i))
	}
	require.Equal(t, int64(accounts*initial), total, "money must be conserved")
	require.Equal(t, 2*accounts+2*int(succeeded.Load()), store.Len(), "every transfer is saved whole, once")
}

// singleOnly is a store that cannot append to several streams at once.
type singleOnly struct{ eventstore.Store }

func TestTransactMisuse(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	repo := newRepo(t, store)
	open(t, repo, "a", 100)
	open(t, repo, "b", 100)

	var kept *aggregate.Tx
	require.NoError(t, aggregate.Transact(ctx, func(tx *aggregate.Tx) error { kept = tx; return nil }))
	_, err := repo.LoadIn(kept, "a")
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "a transaction is over when Transact returns")

	other := newRepo(t, memory.New())
	err = aggregate.Transact(ctx, func(tx *aggregate.Tx) error {
		if _, err := repo.LoadIn(tx, "a"); err != nil {
			return err
		}
		_, err := other.LoadOrNewIn(tx, "x")
		return err
	})
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument, "repositories of one transaction must share a store")

	single := newRepo(t, singleOnly{store})
	require.ErrorIs(t, transfer(ctx, single, "a", "b", 1), eventstore.ErrInvalidArgument, "a store without MultiAppender cannot save two aggregates")
	err = aggregate.Transact(ctx, func(tx *aggregate.Tx) error {
		a, err := single.LoadIn(tx, "a")
		if err != nil {
			return err
		}
		return a.Deposit(1)
	})
	require.NoError(t, err, "one aggregate needs no MultiAppender")
	require.Equal(t, int64(101), balance(t, repo, "a"))
}

// unknownOnce writes the first multi-stream append and reports that its
// outcome is unknown.
type unknownOnce struct {
	*memory.Store
	calls atomic.Int64
}

func (s *unknownOnce) AppendMulti(ctx context.Context, appends ...eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	res, err := s.Store.AppendMulti(ctx, appends...)
	if s.calls.Add(1) == 1 && err == nil {
		return nil, fmt.Errorf("commit lost: %w", eventstore.ErrUnknownOutcome)
	}
	return res, err
}

func TestTransactRepeatsUnknownOutcome(t *testing.T) {
	store := &unknownOnce{Store: memory.New()}
	repo := newRepo(t, store, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
	open(t, repo, "a", 100)
	open(t, repo, "b", 0)
	n := store.Len()
	calls := 0
	err := aggregate.Transact(context.Background(), func(tx *aggregate.Tx) error {
		calls++
		a, err := repo.LoadIn(tx, "a")
		if err != nil {
			return err
		}
		b, err := repo.LoadIn(tx, "b")
		if err != nil {
			return err
		}
		if err := a.Withdraw(5); err != nil {
			return err
		}
		return b.Deposit(5)
	}, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 1, calls, "an unknown outcome repeats the append, not the command")
	require.Equal(t, int64(2), store.calls.Load())
	require.Equal(t, n+2, store.Len(), "written once")
	require.Equal(t, int64(95), balance(t, repo, "a"))
}
