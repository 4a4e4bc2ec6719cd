package aggregatetest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/aggregate/aggregatetest"
)

type Account struct {
	aggregate.Root
	Owner   string
	Balance int64
}

type (
	Opened    struct{ Owner string }
	Deposited struct{ Amount int64 }
	Withdrawn struct{ Amount int64 }
)

var ErrInsufficientFunds = errors.New("insufficient funds")

func (a *Account) Apply(ev any) {
	switch e := ev.(type) {
	case Opened:
		a.Owner = e.Owner
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	}
}

func (a *Account) Withdraw(n int64) error {
	if n > a.Balance {
		return fmt.Errorf("withdraw %d from %d: %w", n, a.Balance, ErrInsufficientFunds)
	}
	aggregate.Raise(a, Withdrawn{Amount: n})
	return nil
}

// sloppyWithdraw raises before it checks: a bug the helpers must catch.
func (a *Account) sloppyWithdraw(n int64) error {
	aggregate.Raise(a, Withdrawn{Amount: n})
	if a.Balance < 0 {
		return ErrInsufficientFunds
	}
	return nil
}

func newAccount() *Account { return &Account{} }

func TestScenarios(t *testing.T) {
	acc := aggregatetest.For(t, newAccount).
		Given(Opened{Owner: "alice"}, Deposited{Amount: 100}).
		When(func(a *Account) error { return a.Withdraw(30) }).
		Then(Withdrawn{Amount: 30})
	assert.Equal(t, int64(70), acc.Balance)
	assert.Equal(t, int64(3), acc.AggregateVersion())
	assert.Equal(t, int64(2), acc.StoredVersion(), "given events are history, not changes")
	assert.Equal(t, aggregatetest.DefaultID, acc.AggregateID())

	aggregatetest.For(t, newAccount).
		Given(Opened{Owner: "alice"}, Deposited{Amount: 10}).
		When(func(a *Account) error { return a.Withdraw(11) }).
		ThenError(ErrInsufficientFunds)

	aggregatetest.For(t, newAccount).
		When(func(*Account) error { return nil }).
		ThenNothing()

	acc = aggregatetest.For(t, newAccount).WithID("acc-7").
		Given(Deposited{Amount: 5}).
		When(func(a *Account) error {
			aggregate.Raise(a, Deposited{Amount: 1}, Deposited{Amount: 2})
			return nil
		}).
		Then(Deposited{Amount: 1}, Deposited{Amount: 2})
	assert.Equal(t, "acc-7", acc.AggregateID())
	assert.Equal(t, int64(8), acc.Balance)

	// Pointer events are values to Raise, Given and Then alike.
	acc = aggregatetest.For(t, newAccount).
		Given(&Deposited{Amount: 5}).
		When(func(a *Account) error {
			aggregate.Raise(a, &Deposited{Amount: 1})
			return nil
		}).
		Then(&Deposited{Amount: 1})
	assert.Equal(t, int64(6), acc.Balance)

	// A nil event fails the command, as saving it would.
	aggregatetest.For(t, newAccount).
		When(func(a *Account) error {
			aggregate.Raise(a, (*Deposited)(nil))
			return nil
		}).
		ThenError(aggregate.ErrInvalidEvent)
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Name() string                 { return "recorder" }
func (r *recorder) Errorf(f string, args ...any) { r.errs = append(r.errs, fmt.Sprintf(f, args...)) }
func (r *recorder) Error(args ...any)            { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Fail()                        { r.errs = append(r.errs, "Fail") }
func (r *recorder) FailNow()                     { r.errs = append(r.errs, "FailNow") }
func (r *recorder) Fatalf(f string, args ...any) { r.Errorf(f, args...) }
func (r *recorder) Failed() bool                 { return len(r.errs) > 0 }

func TestFailingExpectationsFail(t *testing.T) {
	given := []any{Opened{Owner: "bob"}, Deposited{Amount: 10}}
	cases := []struct {
		name string
		run  func(tb testing.TB)
		want []string // substrings of the single failure message
	}{
		{"other event", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(a *Account) error { return a.Withdraw(3) }).
				Then(Withdrawn{Amount: 4})
		}, []string{"raised other events", "Withdrawn{Amount:3}", "Withdrawn{Amount:4}", "Diff", "Amount: (int64) 4"}},
		{"missing event", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(a *Account) error { return a.Withdraw(3) }).
				Then(Withdrawn{Amount: 3}, Deposited{Amount: 1})
		}, []string{"raised other events"}},
		{"events expected, nothing raised", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).
				When(func(*Account) error { return nil }).
				Then(Deposited{Amount: 1})
		}, []string{"raised other events"}},
		{"events expected, error returned", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(a *Account) error { return a.Withdraw(30) }).
				Then(Withdrawn{Amount: 30})
		}, []string{"failed with withdraw 30 from 10: insufficient funds", "Withdrawn{Amount:30}"}},
		{"error expected, success", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(a *Account) error { return a.Withdraw(3) }).
				ThenError(ErrInsufficientFunds)
		}, []string{"succeeded", "Withdrawn{Amount:3}", "insufficient funds"}},
		{"other error", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(*Account) error { return errors.New("boom") }).
				ThenError(ErrInsufficientFunds)
		}, []string{"boom", "want an error matching insufficient funds"}},
		{"error and events", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(a *Account) error { return a.sloppyWithdraw(30) }).
				ThenError(ErrInsufficientFunds)
		}, []string{"must not raise events", "Withdrawn{Amount:30}"}},
		{"nothing expected, events", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).
				When(func(a *Account) error { return a.Withdraw(1) }).
				ThenNothing()
		}, []string{"raised [aggregatetest_test.Withdrawn{Amount:1}]", "want no events"}},
		{"nothing expected, error", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).
				When(func(*Account) error { return ErrInsufficientFunds }).
				ThenNothing()
		}, []string{"failed with insufficient funds"}},
		{"Then without When", func(tb testing.TB) {
			aggregatetest.For(tb, newAccount).Given(given...).Then()
		}, []string{"call When before"}},
		{"When twice", func(tb testing.TB) {
			s := aggregatetest.For(tb, newAccount)
			s.When(func(*Account) error { return nil })
			s.When(func(*Account) error { return nil })
		}, []string{"When called twice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{}
			c.run(r)
			require.Len(t, r.errs, 1, "want exactly one failure, got %q", r.errs)
			for _, w := range c.want {
				assert.Contains(t, r.errs[0], w)
			}
		})
	}
}

func TestPassingExpectationsDoNotFail(t *testing.T) {
	r := &recorder{}
	aggregatetest.For(r, newAccount).Given(Deposited{Amount: 5}).
		When(func(a *Account) error { return a.Withdraw(5) }).Then(Withdrawn{Amount: 5})
	s := aggregatetest.For(r, newAccount).When(func(a *Account) error { return a.Withdraw(5) })
	s.ThenError(ErrInsufficientFunds)
	assert.ErrorIs(t, s.Err(), ErrInsufficientFunds)
	assert.Empty(t, r.errs)
	assert.False(t, strings.Contains(strings.Join(r.errs, ""), "aggregatetest"))
}
