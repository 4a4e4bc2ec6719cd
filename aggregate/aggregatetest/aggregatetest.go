// Package aggregatetest tests aggregates in given/when/then form, without a
// store or a serde: given the events in an aggregate's history, when a
// command runs, then it raises these events (or fails with this error, or
// does nothing).
//
//	func TestWithdraw(t *testing.T) {
//		aggregatetest.For(t, func() *Account { return &Account{} }).
//			Given(Opened{Owner: "alice"}, Deposited{Amount: 100}).
//			When(func(a *Account) error { return a.Withdraw(30) }).
//			Then(Withdrawn{Amount: 30})
//	}
//
// Raised events are compared by value, in order, with a readable diff on
// mismatch; errors are compared with errors.Is. A failed expectation is
// reported with t.Errorf, so one test can check several scenarios.
package aggregatetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kafkaes/kafkaes/aggregate"
)

// DefaultID is the aggregate ID scenarios use unless [Scenario.WithID] sets
// another.
const DefaultID = "aggregatetest-1"

// Scenario is one given/when/then test of an aggregate of type T. Create it
// with [For]; the methods return the scenario so that calls chain.
type Scenario[T aggregate.Aggregate] struct {
	t     testing.TB
	newT  func() T
	id    string
	given []any
	agg   T
	ran   bool
	err   error
}

// For starts a scenario for the aggregate made by newT, which must return
// a fresh zero aggregate (the same function a repository uses).
func For[T aggregate.Aggregate](t testing.TB, newT func() T) *Scenario[T] {
	return &Scenario[T]{t: t, newT: newT, id: DefaultID}
}

// WithID sets the aggregate's ID (default [DefaultID]), for commands whose
// events contain it.
func (s *Scenario[T]) WithID(id string) *Scenario[T] {
	s.id = id
	return s
}

// Given sets the aggregate's history: the events it has already stored, in
// order. They are applied as loaded events (versions 1..n), not as changes.
func (s *Scenario[T]) Given(events ...any) *Scenario[T] {
	s.given = append(s.given, events...)
	return s
}

// When runs a command on the aggregate built from the history. Call it once
// per scenario, before one of the Then methods.
func (s *Scenario[T]) When(command func(T) error) *Scenario[T] {
	s.t.Helper()
	if s.ran {
		s.t.Errorf("aggregatetest: When called twice on one scenario; start a new scenario with For")
		return s
	}
	s.agg = s.newT()
	aggregate.Init(s.agg, s.id)
	aggregate.Restore(s.agg, int64(len(s.given)), s.given...)
	s.ran = true
	s.err = command(s.agg)
	if s.err == nil {
		// An event Raise rejected (nil) fails the command as a save would.
		s.err = aggregate.RaiseError(s.agg)
	}
	return s
}

// Then expects the command to succeed and to raise exactly events, in
// order. It returns the aggregate after the command, for checks of its
// state.
func (s *Scenario[T]) Then(events ...any) T {
	s.t.Helper()
	if !s.check() {
		return s.agg
	}
	if s.err != nil {
		s.t.Errorf("aggregatetest: the command failed with %v; want it to raise %s", s.err, describe(events))
		return s.agg
	}
	if len(events) == 0 {
		events = []any{}
	}
	assert.Equal(s.t, values(events), s.raised(), "aggregatetest: the command raised other events than expected (given %s)", describe(s.given))
	return s.agg
}

// ThenError expects the command to fail with an error matching target
// (errors.Is) and to raise no events. It returns the aggregate after the
// command.
func (s *Scenario[T]) ThenError(target error) T {
	s.t.Helper()
	if !s.check() {
		return s.agg
	}
	switch {
	case s.err == nil:
		s.t.Errorf("aggregatetest: the command succeeded and raised %s; want the error %v", describe(s.raised()), target)
	case !errors.Is(s.err, target):
		s.t.Errorf("aggregatetest: the command failed with %v (%T); want an error matching %v", s.err, s.err, target)
	case len(s.raised()) > 0:
		s.t.Errorf("aggregatetest: the command failed with %v as expected, but also raised %s; a failing command must not raise events", s.err, describe(s.raised()))
	}
	return s.agg
}

// ThenNothing expects the command to succeed without raising any event.
func (s *Scenario[T]) ThenNothing() T {
	s.t.Helper()
	if !s.check() {
		return s.agg
	}
	if s.err != nil {
		s.t.Errorf("aggregatetest: the command failed with %v; want it to succeed and raise nothing", s.err)
	} else if r := s.raised(); len(r) > 0 {
		s.t.Errorf("aggregatetest: the command raised %s; want no events", describe(r))
	}
	return s.agg
}

// Err returns the command's error, for checks the Then methods do not
// cover (for example errors.As on a typed error).
func (s *Scenario[T]) Err() error { return s.err }

func (s *Scenario[T]) check() bool {
	s.t.Helper()
	if !s.ran {
		s.t.Errorf("aggregatetest: call When before Then, ThenError or ThenNothing")
	}
	return s.ran
}

// raised returns a copy of the events the command raised.
func (s *Scenario[T]) raised() []any {
	// Every Aggregate embeds aggregate.Root (only Root implements the
	// interface's unexported method), so it has Changes.
	c, ok := any(s.agg).(interface{ Changes() []any })
	if !ok {
		return []any{}
	}
	return append([]any{}, c.Changes()...)
}

// values returns events with pointers replaced by the values they point
// to, as aggregate.Raise records them, so Then(&Deposited{…}) matches.
func values(events []any) []any {
	out := make([]any, len(events))
	for i, ev := range events {
		v := reflect.ValueOf(ev)
		for v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if v.IsValid() {
			ev = v.Interface()
		}
		out[i] = ev
	}
	return out
}

// describe formats events with their types, e.g. [Deposited{Amount:5}].
func describe(events []any) string {
	if len(events) == 0 {
		return "no events"
	}
	out := "["
	for i, e := range events {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%T%+v", e, e)
	}
	return out + "]"
}
