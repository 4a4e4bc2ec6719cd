package account_test

import (
	"testing"

	"github.com/kafkaes/kafkaes/aggregate/aggregatetest"
	"github.com/kafkaes/kafkaes/examples/bank/account"
)

func scenario(t *testing.T) *aggregatetest.Scenario[*account.Account] {
	return aggregatetest.For(t, account.New)
}

func TestOpen(t *testing.T) {
	scenario(t).
		When(func(a *account.Account) error { return a.OpenAccount("Alice", "EUR") }).
		Then(account.Opened{Owner: "Alice", Currency: "EUR"})
	scenario(t).
		Given(account.Opened{Owner: "Alice", Currency: "EUR"}).
		When(func(a *account.Account) error { return a.OpenAccount("Alice", "EUR") }).
		ThenError(account.ErrAlreadyOpen)
}

func TestDepositAndWithdraw(t *testing.T) {
	opened := account.Opened{Owner: "Alice", Currency: "EUR"}
	scenario(t).
		Given(opened).
		When(func(a *account.Account) error { return a.Deposit(100, "salary") }).
		Then(account.Deposited{Amount: 100, Reference: "salary"})
	scenario(t).
		Given(opened, account.Deposited{Amount: 100}).
		When(func(a *account.Account) error { return a.Withdraw(100, "all of it") }).
		Then(account.Withdrawn{Amount: 100, Reference: "all of it"})
	scenario(t).
		Given(opened).
		When(func(a *account.Account) error { return a.Deposit(0, "nothing") }).
		ThenError(account.ErrInvalidAmount)
	scenario(t).
		When(func(a *account.Account) error { return a.Deposit(10, "") }).
		ThenError(account.ErrNotOpen)
}

func TestNoOverdraft(t *testing.T) {
	scenario(t).
		Given(account.Opened{Owner: "Alice", Currency: "EUR"}, account.Deposited{Amount: 100}, account.Withdrawn{Amount: 60}).
		When(func(a *account.Account) error { return a.Withdraw(41, "too much") }).
		ThenError(account.ErrInsufficientFunds)
}

func TestClosedAccountTakesNoDeposit(t *testing.T) {
	closed := []any{account.Opened{Owner: "Bob", Currency: "EUR"}, account.Closed{Reason: "moved"}}
	scenario(t).
		Given(closed...).
		When(func(a *account.Account) error { return a.Deposit(10, "gift") }).
		ThenError(account.ErrClosed)
	scenario(t).
		Given(account.Opened{Owner: "Bob", Currency: "EUR"}, account.Deposited{Amount: 1}).
		When(func(a *account.Account) error { return a.Close("moved") }).
		ThenError(account.ErrNonZeroBalance)
}
