package aggregate

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Root holds the bookkeeping every event-sourced aggregate needs: its ID,
// the version it was loaded at, and the events raised since. Embed it (as a
// value) in your aggregate struct:
//
//	type Account struct {
//		aggregate.Root
//		Balance int64
//	}
//
// Root's fields are unexported so that only the repository and [Raise]
// change them.
type Root struct {
	id      string
	version int64
	changes []any
	// ids are the event IDs of changes, assigned at the first attempt to
	// save them and kept until they are saved, so that saving again after
	// an unknown outcome is an idempotent repeat in the store.
	ids []string
	// appended is what the last save appended.
	appended eventstore.AppendResult
	// err is the first event Raise rejected (see ErrInvalidEvent); Save
	// refuses to store an aggregate that has one.
	err error
}

// AggregateID returns the aggregate's ID (its stream ID).
func (r *Root) AggregateID() string { return r.id }

// AggregateVersion returns the version of the last event applied to the
// aggregate, including raised events that are not saved yet. A new
// aggregate has version 0.
func (r *Root) AggregateVersion() int64 { return r.version + int64(len(r.changes)) }

// StoredVersion returns the version of the last event loaded from or saved
// to the store, not counting unsaved changes.
func (r *Root) StoredVersion() int64 { return r.version }

// Appended returns what the most recent [Repository.Save] (or the save of
// [Repository.Update]) of this aggregate value appended: the stream's
// version after it and the positions of the appended events, in order.
// Pass the positions to projection.Runner.WaitFor to read your own writes:
//
//	acc, err := repo.Update(ctx, id, cmd)
//	…
//	err = runner.WaitFor(ctx, acc.Appended().Positions...)
//
// It is the zero AppendResult (no positions, so WaitFor returns at once)
// for an aggregate that was loaded and not saved since, or whose last save
// had no changes.
func (r *Root) Appended() eventstore.AppendResult { return r.appended }

// Changes returns the events raised since the aggregate was loaded or last
// saved. The slice must not be modified.
func (r *Root) Changes() []any { return r.changes }

func (r *Root) aggregateRoot() *Root { return r }

// Aggregate is implemented by any struct that embeds [Root] (through a
// pointer to it) and has an Apply method.
type Aggregate interface {
	// Apply changes the aggregate's state to reflect event. It is called
	// for every stored event on load and for every raised event, so it
	// must not check invariants or fail: decide in command methods, then
	// record the decision with Raise. Unknown events should be ignored.
	Apply(event any)
	aggregateRoot() *Root
}

// ErrInvalidEvent means [Raise] was given an event it cannot record: a nil
// event or a nil pointer. [Repository.Save] and [Repository.Update] return
// an error matching it and store nothing; fix the command method.
var ErrInvalidEvent = errors.New("aggregate: invalid event")

// Raise records events as changes of a and applies them to it in order.
// Call it from command methods after checking invariants:
//
//	func (a *Account) Deposit(amount int64) error {
//		if amount <= 0 {
//			return ErrInvalidAmount
//		}
//		aggregate.Raise(a, Deposited{Amount: amount})
//		return nil
//	}
//
// A pointer event (&Deposited{…}) is recorded and applied as the value it
// points to (Deposited{…}): that is what the store gives back on load
// (a [serde.Registry] holds value types, and decoding returns values), so
// Apply sees the same type on Raise and on load, and the aggregate
// [Repository.Update] returns equals the one a later Load gives. A nil
// event or nil pointer cannot be recorded: Raise skips it and remembers the
// first such mistake, and saving the aggregate then fails with an error
// matching [ErrInvalidEvent] (see [RaiseError]).
func Raise(a Aggregate, events ...any) {
	r := a.aggregateRoot()
	for _, ev := range events {
		ev, err := normalize(ev)
		if err != nil {
			if r.err == nil {
				r.err = err
			}
			continue
		}
		a.Apply(ev)
		r.changes = append(r.changes, ev)
	}
}

// RaiseError returns the error of the first event [Raise] rejected on a
// (matching [ErrInvalidEvent]), or nil. An aggregate with such an error is
// not saved; discard it and fix the command that raised the event.
func RaiseError(a Aggregate) error { return a.aggregateRoot().err }

// normalize returns the event Raise records for ev: the value a non-nil
// pointer points to (through any number of pointers), ev itself when it is
// not a pointer, and an error matching ErrInvalidEvent for nil.
func normalize(ev any) (any, error) {
	if ev == nil {
		return nil, fmt.Errorf("%w: Raise got a nil event; pass an event value such as Deposited{Amount: 5}", ErrInvalidEvent)
	}
	v := reflect.ValueOf(ev)
	if v.Kind() != reflect.Pointer {
		return ev, nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, fmt.Errorf("%w: Raise got a nil %T; pass an event value such as %s{…}", ErrInvalidEvent, ev, v.Type().Elem())
		}
		v = v.Elem()
	}
	return v.Interface(), nil
}

// Init sets the ID of a new aggregate; the repository calls it for you.
// Tests and factories outside a repository may call it on aggregates
// with version 0; it panics on an aggregate that was loaded.
func Init(a Aggregate, id string) {
	r := a.aggregateRoot()
	if r.version != 0 {
		panic("aggregate: Init on an aggregate that was loaded from the store")
	}
	r.id = id
}

// Restore applies stored events to a (as a load does) and advances its
// stored version to version, without recording them as changes. Snapshot
// integrations and test helpers (package aggregatetest) use it; an
// application that loads through a [Repository] never needs it. It is
// exported, with [Init], so that such helpers can live outside this
// package.
// Pointer events are applied as the values they point to, as [Raise] does.
func Restore(a Aggregate, version int64, events ...any) {
	for _, ev := range events {
		if n, err := normalize(ev); err == nil {
			ev = n
		}
		a.Apply(ev)
	}
	a.aggregateRoot().version = version
}

// markSaved records that the aggregate's changes were stored, leaving it
// at version: the changes are cleared.
func markSaved(a Aggregate, version int64) {
	r := a.aggregateRoot()
	r.version = version
	r.changes = nil
	r.ids = nil
}
