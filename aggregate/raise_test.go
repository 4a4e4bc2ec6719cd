package aggregate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// A pointer event is recorded and applied as its value, so the aggregate
// Update returns equals the one a later Load rebuilds (Apply switches on
// value types, and decoding gives values).
func TestRaisePointerEventIsNormalisedToItsValue(t *testing.T) {
	ctx := context.Background()
	repo := newRepo(t, memory.New())
	updated, err := repo.Update(ctx, "acc-p", func(a *Account) error {
		aggregate.Raise(a, &AccountOpened{Owner: "pat"})
		ev := &MoneyDeposited{Amount: 7}
		aggregate.Raise(a, &ev) // a pointer to a pointer too
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "pat", updated.Owner, "Apply saw the pointer event as its value")
	assert.Equal(t, int64(7), updated.Balance)

	loaded, err := repo.Load(ctx, "acc-p")
	require.NoError(t, err)
	assert.Equal(t, updated.Owner, loaded.Owner)
	assert.Equal(t, updated.Balance, loaded.Balance)
	assert.Equal(t, updated.AggregateVersion(), loaded.AggregateVersion())

	a := &Account{}
	in := &MoneyDeposited{Amount: 1}
	aggregate.Raise(a, in)
	in.Amount = 1000 // the recorded event is a copy, not an alias
	assert.Equal(t, []any{MoneyDeposited{Amount: 1}}, a.Changes())
	assert.NoError(t, aggregate.RaiseError(a))
}

// A nil event cannot be recorded: the save fails with ErrInvalidEvent and
// nothing is stored.
func TestRaiseNilEventFailsTheSave(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	repo := newRepo(t, store)
	for name, ev := range map[string]any{"nil": nil, "nil pointer": (*MoneyDeposited)(nil)} {
		t.Run(name, func(t *testing.T) {
			_, err := repo.Update(ctx, "acc-nil", func(a *Account) error {
				aggregate.Raise(a, AccountOpened{Owner: "x"}, ev)
				return nil
			})
			require.ErrorIs(t, err, aggregate.ErrInvalidEvent)
			assert.Contains(t, err.Error(), "nil")
			_, err = repo.Load(ctx, "acc-nil")
			assert.ErrorIs(t, err, aggregate.ErrNotFound, "nothing was stored")

			a := repo.New("acc-nil")
			aggregate.Raise(a, ev)
			assert.Empty(t, a.Changes())
			assert.ErrorIs(t, aggregate.RaiseError(a), aggregate.ErrInvalidEvent)
			assert.ErrorIs(t, repo.Save(ctx, a), aggregate.ErrInvalidEvent)
		})
	}
}
