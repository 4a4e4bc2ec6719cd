// Package aggregate is the write side of an event-sourced service:
// aggregates whose state is the sum of their events, and a typed
// [Repository] that loads them from an [eventstore.Store] and saves the
// events their commands raise, with optimistic concurrency.
//
// # Writing an aggregate
//
// An aggregate is a struct that embeds [Root] and has an Apply method. Apply
// changes the state for one event and never fails; command methods check
// invariants and record their decisions with [Raise]:
//
//	type Account struct {
//		aggregate.Root
//		Balance int64
//	}
//
//	func (a *Account) Apply(event any) {
//		switch e := event.(type) {
//		case Deposited:
//			a.Balance += e.Amount
//		case Withdrawn:
//			a.Balance -= e.Amount
//		}
//	}
//
//	func (a *Account) Withdraw(amount int64) error {
//		if amount > a.Balance {
//			return ErrInsufficientFunds
//		}
//		aggregate.Raise(a, Withdrawn{Amount: amount})
//		return nil
//	}
//
// Events are plain Go values. Raise them as values; a pointer
// (&Withdrawn{…}) is recorded and applied as the value it points to, because
// that is what a load gives back (the serde registry holds value types), so
// Apply needs only value cases and the aggregate a command leaves behind is
// the one a later load rebuilds. We normalise rather than reject because a
// pointer carries the same event and rejecting it would only move the
// mistake to run time; a nil event cannot be normalised, and saving an
// aggregate that raised one fails with [ErrInvalidEvent]. Register each event type under a stable name
// in a [serde.Registry]; the name, not the Go type name, is what is stored.
//
// # Running commands
//
// [NewRepository] ties an aggregate type to a store and a serde:
//
//	repo := aggregate.NewRepository(store, serde.NewJSON(reg), func() *Account { return &Account{} })
//	acc, err := repo.Update(ctx, "acc-1", func(a *Account) error { return a.Withdraw(10) })
//
// [Repository.Update] loads the aggregate (a new one if its stream is empty),
// runs the command and appends the raised events, expecting the stream to
// still be at the version it loaded. If another writer got there first, the
// append fails with [eventstore.ErrConcurrencyConflict] and Update starts
// over with a fresh load, after a randomised ("full jitter") exponential
// backoff; [WithRetry] sets the number of attempts and the delays (default
// 5 attempts, 5ms base, 500ms cap). The command function may therefore run
// more than once: keep side effects out of it. An error returned by the
// command is returned unchanged (compare it with == or errors.Is) and
// nothing is saved. Cancelling ctx stops Update, also during a backoff.
//
// The aggregate Update returns knows what its save appended:
// [Root.Appended] gives the stream version and the positions of the new
// events, which projection.Runner.WaitFor takes to let the caller read its
// own writes from a view (a command that raised nothing appended nothing,
// and WaitFor then returns at once).
//
// [Repository.Load] and [Repository.Save] are the two halves of Update for
// callers that manage retries themselves. Load returns an error matching
// [ErrNotFound] for an aggregate without events, and an error naming the
// stream, the event type and its version when an event cannot be decoded
// (for example a type missing from the registry).
//
// [Repository.LoadAt] and [Repository.LoadAsOf] rebuild a past state, as of
// a version or a time (audits, support, "why did the command fail
// yesterday?"), from the latest snapshot at or below it when there is one.
// A past state is for reading: saving changes raised on it fails with a
// concurrency conflict unless it is the latest.
//
// Metadata attached to ctx with [eventstore.ContextWithMetadata]
// (correlation and causation IDs, user keys) is stored with every event a
// save appends. [WithStreamID] maps aggregate IDs to stream IDs, for stores
// shared by several aggregate types.
//
// # Commands over several aggregates
//
// [Transact] runs one command over several aggregates, of one type or of
// many, and saves all of their changes in one atomic multi-stream append
// ([eventstore.MultiAppender]): a transfer debits one account and credits
// another, or does neither. The command loads its aggregates through the
// transaction with [Repository.LoadIn] or [Repository.LoadOrNewIn]; each
// is saved expecting the version it was loaded at, and one that was only
// read must still be at that version when the append takes effect, so a
// decision never rests on stale state. On a conflict Transact starts over
// with fresh loads, as Update does. We chose a transaction object over a
// fixed-arity Update2(repoA, idA, repoB, idB, fn) because commands load
// what they need as they go (the second account may depend on the
// first), and because an aggregate that was loaded cannot be forgotten at
// save time: the transaction saves, or checks, every one of them.
//
// # Snapshots
//
// [WithSnapshots] loads aggregates from their latest snapshot plus the
// events after it, and takes snapshots in the background by a policy; see
// package [github.com/kafkaes/kafkaes/snapshot]. The aggregate itself is
// the snapshot state unless it implements [Snapshotter]; with serde/avro
// its embedded Root adds nothing to the derived schema. [NewRepository]
// checks that the state can be encoded when the serde can tell
// ([serde.TypeChecker]) and panics with [ErrSnapshotState] if not, so the
// mistake stops the service at start-up rather than leaving it without
// snapshots.
//
// # Testing
//
// Package [github.com/kafkaes/kafkaes/aggregate/aggregatetest] tests
// command methods in given/when/then form without a store, and
// [github.com/kafkaes/kafkaes/eventstore/memory] is a complete in-memory
// store for tests of repositories and services.
package aggregate
