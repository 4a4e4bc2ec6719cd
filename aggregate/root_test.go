package aggregate_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kafkaes/kafkaes/aggregate"
)

func TestRootBookkeeping(t *testing.T) {
	a := &Account{}
	aggregate.Init(a, "acc-1")
	assert.Equal(t, "acc-1", a.AggregateID())
	assert.Equal(t, int64(0), a.AggregateVersion())

	aggregate.Restore(a, 2, AccountOpened{Owner: "erin"}, MoneyDeposited{Amount: 30})
	assert.Equal(t, int64(2), a.StoredVersion())
	assert.Equal(t, int64(2), a.AggregateVersion())
	assert.Empty(t, a.Changes(), "restored events are history, not changes")
	assert.Equal(t, int64(30), a.Balance)

	aggregate.Raise(a, MoneyDeposited{Amount: 5}, MoneyWithdrawn{Amount: 10})
	assert.Equal(t, int64(25), a.Balance, "Raise applies the events")
	assert.Equal(t, []any{MoneyDeposited{Amount: 5}, MoneyWithdrawn{Amount: 10}}, a.Changes())
	assert.Equal(t, int64(4), a.AggregateVersion())
	assert.Equal(t, int64(2), a.StoredVersion())

	aggregate.MarkSaved(a, 4)
	assert.Empty(t, a.Changes())
	assert.Equal(t, int64(4), a.StoredVersion())
	assert.Equal(t, int64(4), a.AggregateVersion())

	assert.Panics(t, func() { aggregate.Init(a, "other") }, "Init on a loaded aggregate is a programming error")
	assert.Equal(t, "acc-1", a.AggregateID())
}
