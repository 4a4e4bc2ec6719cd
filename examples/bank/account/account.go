// Package account is the domain of the bank example: an event-sourced bank
// account that can be opened, credited, debited and closed, with its
// invariants (no overdraft, no deposit to a closed account) enforced in
// the aggregate.
package account

import (
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/serde"
)

// Domain errors returned by the command methods. Repositories return them
// untouched, so callers test them with errors.Is.
var (
	ErrAlreadyOpen       = errors.New("account: already open")
	ErrNotOpen           = errors.New("account: not open")
	ErrClosed            = errors.New("account: closed")
	ErrInvalidAmount     = errors.New("account: amount must be positive")
	ErrInsufficientFunds = errors.New("account: insufficient funds")
	ErrNonZeroBalance    = errors.New("account: balance must be zero to close")
)

// Opened is the first event of every account.
type Opened struct {
	Owner    string `json:"owner" avro:"owner"`
	Currency string `json:"currency" avro:"currency"`
}

// Deposited records money paid in, in minor units (cents).
type Deposited struct {
	Amount    int64  `json:"amount" avro:"amount"`
	Reference string `json:"reference" avro:"reference"`
}

// Withdrawn records money paid out, in minor units (cents).
type Withdrawn struct {
	Amount    int64  `json:"amount" avro:"amount"`
	Reference string `json:"reference" avro:"reference"`
}

// Closed records that the account was closed.
type Closed struct {
	Reason string `json:"reason" avro:"reason"`
}

// Register adds the account events to reg under stable names. The names are
// also the Avro record full names.
func Register(reg *serde.Registry) error {
	return errors.Join(
		serde.Register[Opened](reg, "bank.AccountOpened"),
		serde.Register[Deposited](reg, "bank.MoneyDeposited"),
		serde.Register[Withdrawn](reg, "bank.MoneyWithdrawn"),
		serde.Register[Closed](reg, "bank.AccountClosed"),
		serde.Register[State](reg, "bank.AccountState"),
	)
}

// Account is the aggregate. Its exported fields are its state, rebuilt from
// events by Apply.
type Account struct {
	aggregate.Root
	Owner    string
	Currency string
	Balance  int64
	Open     bool
	Closed   bool
}

// State is the account's snapshot: everything Apply has built up.
type State struct {
	Owner    string `json:"owner" avro:"owner"`
	Currency string `json:"currency" avro:"currency"`
	Balance  int64  `json:"balance" avro:"balance"`
	Open     bool   `json:"open" avro:"open"`
	Closed   bool   `json:"closed" avro:"closed"`
}

// SnapshotState returns the state to store in a snapshot.
func (a *Account) SnapshotState() any {
	return State{Owner: a.Owner, Currency: a.Currency, Balance: a.Balance, Open: a.Open, Closed: a.Closed}
}

// RestoreSnapshot sets the state from a snapshot.
func (a *Account) RestoreSnapshot(state any) error {
	s, ok := state.(State)
	if !ok {
		return fmt.Errorf("account: snapshot state is %T, want account.State", state)
	}
	a.Owner, a.Currency, a.Balance, a.Open, a.Closed = s.Owner, s.Currency, s.Balance, s.Open, s.Closed
	return nil
}

// SnapshotVersion is the version of the State shape; bump it when State or
// Apply change so that old snapshots are ignored.
func (a *Account) SnapshotVersion() int { return 1 }

// New returns an empty account, for aggregate.NewRepository.
func New() *Account { return &Account{} }

// Apply changes the state to reflect one event.
func (a *Account) Apply(event any) {
	switch e := event.(type) {
	case Opened:
		a.Owner, a.Currency, a.Open = e.Owner, e.Currency, true
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	case Closed:
		a.Open, a.Closed = false, true
	}
}

// OpenAccount opens a new account for owner.
func (a *Account) OpenAccount(owner, currency string) error {
	if a.Open || a.Closed {
		return ErrAlreadyOpen
	}
	if owner == "" || len(currency) != 3 {
		return fmt.Errorf("account: open needs an owner and a 3-letter currency, got %q and %q", owner, currency)
	}
	aggregate.Raise(a, Opened{Owner: owner, Currency: currency})
	return nil
}

// Deposit pays amount (minor units) into the account.
func (a *Account) Deposit(amount int64, reference string) error {
	if err := a.usable(amount); err != nil {
		return err
	}
	aggregate.Raise(a, Deposited{Amount: amount, Reference: reference})
	return nil
}

// Withdraw pays amount (minor units) out of the account; the balance may
// not go below zero.
func (a *Account) Withdraw(amount int64, reference string) error {
	if err := a.usable(amount); err != nil {
		return err
	}
	if amount > a.Balance {
		return fmt.Errorf("%w: balance %d, withdrawal %d", ErrInsufficientFunds, a.Balance, amount)
	}
	aggregate.Raise(a, Withdrawn{Amount: amount, Reference: reference})
	return nil
}

// Close closes an account whose balance is zero.
func (a *Account) Close(reason string) error {
	if err := a.usable(1); err != nil {
		return err
	}
	if a.Balance != 0 {
		return fmt.Errorf("%w: balance is %d", ErrNonZeroBalance, a.Balance)
	}
	aggregate.Raise(a, Closed{Reason: reason})
	return nil
}

func (a *Account) usable(amount int64) error {
	switch {
	case a.Closed:
		return ErrClosed
	case !a.Open:
		return ErrNotOpen
	case amount <= 0:
		return ErrInvalidAmount
	}
	return nil
}
