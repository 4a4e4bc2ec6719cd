package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
)

// interloper is a store in which another writer gets in first: before each
// of the next `conflicts` appends it appends a deposit of 1 to the same
// stream, so the append that follows meets a real concurrency conflict.
type interloper struct {
	*memory.Store
	sd        serde.Serde
	conflicts atomic.Int64
	appends   atomic.Int64
	onAppend  func() // called after each conflicting append, if set
}

func (s *interloper) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	s.appends.Add(1)
	if s.conflicts.Add(-1) >= 0 {
		name, data, err := s.sd.Marshal(ctx, MoneyDeposited{Amount: 1})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if _, err := s.Store.Append(ctx, id, eventstore.Any, eventstore.Event{Type: name, Data: data}); err != nil {
			return eventstore.AppendResult{}, err
		}
		res, err := s.Store.Append(ctx, id, exp, evs...)
		if s.onAppend != nil {
			s.onAppend()
		}
		return res, err
	}
	return s.Store.Append(ctx, id, exp, evs...)
}

func newRepo(t *testing.T, store eventstore.Store, opts ...aggregate.Option) *aggregate.Repository[*Account] {
	t.Helper()
	return aggregate.NewRepository(store, serde.NewJSON(accountRegistry()), func() *Account { return &Account{} }, opts...)
}

func newInterloper(conflicts int64) *interloper {
	s := &interloper{Store: memory.New(), sd: serde.NewJSON(accountRegistry())}
	s.conflicts.Store(conflicts)
	return s
}

func open(t *testing.T, repo *aggregate.Repository[*Account], id string, deposit int64) {
	t.Helper()
	_, err := repo.Update(context.Background(), id, func(a *Account) error {
		if err := a.Open("alice"); err != nil || deposit == 0 {
			return err
		}
		return a.Deposit(deposit)
	})
	require.NoError(t, err)
}

func TestUpdateRetriesOnConflict(t *testing.T) {
	store := newInterloper(0)
	repo := newRepo(t, store, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
	open(t, repo, "acc", 100)

	store.conflicts.Store(3)
	calls := 0
	acc, err := repo.Update(context.Background(), "acc", func(a *Account) error {
		calls++
		return a.Withdraw(50)
	})
	require.NoError(t, err)
	assert.Equal(t, 4, calls, "three conflicts, then success: the command runs four times, each on a fresh load")
	assert.Equal(t, int64(100+3-50), acc.Balance, "the retried command saw the interloper's deposits")
	assert.Equal(t, int64(2+3+1), acc.AggregateVersion())
	assert.Empty(t, acc.Changes(), "the returned aggregate is saved")

	loaded, err := repo.Load(context.Background(), "acc")
	require.NoError(t, err)
	assert.Equal(t, acc.Balance, loaded.Balance)
	assert.Equal(t, acc.AggregateVersion(), loaded.AggregateVersion())
}

func TestUpdateGivesUpAfterAttempts(t *testing.T) {
	store := newInterloper(0)
	repo := newRepo(t, store, aggregate.WithRetry(3, time.Microsecond, time.Millisecond))
	open(t, repo, "acc", 10)

	store.conflicts.Store(1000)
	calls := 0
	_, err := repo.Update(context.Background(), "acc", func(a *Account) error {
		calls++
		return a.Deposit(1)
	})
	require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "acc", ce.StreamID)
	assert.Contains(t, err.Error(), "after 3 attempts")
	assert.Equal(t, 3, calls)

	// WithRetry(1, ...) means no retry at all; attempts below 1 mean 1.
	for _, attempts := range []int{1, 0, -4} {
		repo := newRepo(t, store, aggregate.WithRetry(attempts, time.Microsecond, time.Millisecond))
		calls = 0
		_, err = repo.Update(context.Background(), "acc", func(a *Account) error { calls++; return a.Deposit(1) })
		require.ErrorIs(t, err, eventstore.ErrConcurrencyConflict)
		assert.Equal(t, 1, calls, "WithRetry(%d)", attempts)
		assert.NotContains(t, err.Error(), "attempts")
	}
}

func TestUpdateStopsWhenCancelledDuringBackoff(t *testing.T) {
	store := newInterloper(1)
	// A backoff of up to an hour: only cancellation can end it in time.
	repo := newRepo(t, store, aggregate.WithRetry(5, time.Hour, time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store.onAppend = cancel // cancel right after the conflicting append

	done := make(chan error, 1)
	calls := 0
	go func() {
		_, err := repo.Update(ctx, "acc", func(a *Account) error { calls++; return a.Open("bob") })
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 1, calls, "no second attempt after cancellation")
	case <-time.After(20 * time.Second):
		t.Fatal("Update kept waiting in its backoff after the context was cancelled")
	}
}

func TestUpdateReturnsDomainErrorsUntouched(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	open(t, repo, "acc", 10)
	before := store.Len()

	_, err := repo.Update(context.Background(), "acc", func(a *Account) error { return a.Withdraw(11) })
	assert.True(t, err == ErrInsufficientFunds, "want the domain error itself, got %#v", err) //nolint:errorlint // identity is the point
	assert.ErrorIs(t, err, ErrInsufficientFunds)

	type limitError struct{ Limit int64 }
	custom := &limitError{Limit: 5}
	_, err = repo.Update(context.Background(), "acc", func(a *Account) error {
		_ = a.Deposit(1) // raised, but the command fails: nothing may be saved
		return fmt.Errorf("wrapped: %w", errors.Join(errors.New("x"), errorWrapper{custom}))
	})
	var got errorWrapper
	require.ErrorAs(t, err, &got)
	assert.Same(t, custom, got.v)
	assert.Equal(t, before, store.Len(), "a failed command must not save anything")

	acc, err := repo.Load(context.Background(), "acc")
	require.NoError(t, err)
	assert.Equal(t, int64(10), acc.Balance)
}

type errorWrapper struct{ v any }

func (e errorWrapper) Error() string { return fmt.Sprint(e.v) }

func TestLoadUnknownEventType(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	open(t, repo, "acc-9", 10)
	_, err := store.Append(context.Background(), "acc-9", eventstore.Exact(2), eventstore.Event{Type: "bank.AccountFrozen", Data: []byte(`{}`)})
	require.NoError(t, err)

	_, err = repo.Load(context.Background(), "acc-9")
	require.ErrorIs(t, err, serde.ErrUnknownType)
	for _, want := range []string{"bank.AccountFrozen", `"acc-9"`, "version 3"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = repo.Update(context.Background(), "acc-9", func(a *Account) error { return a.Deposit(1) })
	require.ErrorIs(t, err, serde.ErrUnknownType, "Update must not run commands on a partly loaded aggregate")

	// With a stream mapping, the error names the stream too.
	prefixed := newRepo(t, store, aggregate.WithStreamID(func(id string) string { return "account-" + id }))
	_, err = store.Append(context.Background(), "account-9", eventstore.NoStream, eventstore.Event{Type: "bank.AccountFrozen", Data: []byte(`{}`)})
	require.NoError(t, err)
	_, err = prefixed.Load(context.Background(), "9")
	require.ErrorIs(t, err, serde.ErrUnknownType)
	for _, want := range []string{"bank.AccountFrozen", `aggregate "9"`, `stream "account-9"`, "version 1"} {
		assert.Contains(t, err.Error(), want)
	}

	// Malformed data of a known type.
	_, err = store.Append(context.Background(), "acc-10", eventstore.NoStream, eventstore.Event{Type: "bank.MoneyDeposited", Data: []byte(`{"Amount":`)})
	require.NoError(t, err)
	_, err = repo.Load(context.Background(), "acc-10")
	require.ErrorIs(t, err, serde.ErrMalformed)
	assert.Contains(t, err.Error(), "bank.MoneyDeposited")
}

func TestLoadNotFound(t *testing.T) {
	repo := newRepo(t, memory.New())
	acc, err := repo.Load(context.Background(), "nobody")
	require.ErrorIs(t, err, aggregate.ErrNotFound)
	require.ErrorIs(t, err, eventstore.ErrStreamNotFound)
	assert.Contains(t, err.Error(), "nobody")
	assert.Nil(t, acc)
}

func TestSaveDetectsConflictAndMarksSaved(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	ctx := context.Background()
	open(t, repo, "acc", 10)

	a, err := repo.Load(ctx, "acc")
	require.NoError(t, err)
	b, err := repo.Load(ctx, "acc")
	require.NoError(t, err)
	require.NoError(t, a.Deposit(5))
	require.NoError(t, b.Withdraw(5))
	assert.Equal(t, int64(3), a.AggregateVersion())
	assert.Equal(t, int64(2), a.StoredVersion())

	require.NoError(t, repo.Save(ctx, a))
	assert.Equal(t, int64(3), a.StoredVersion())
	assert.Empty(t, a.Changes())

	err = repo.Save(ctx, b)
	var ce *eventstore.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, eventstore.Exact(2), ce.Expected)
	assert.Equal(t, int64(3), ce.Actual)
	assert.Len(t, b.Changes(), 1, "a failed save keeps the changes")

	// Saving without changes does nothing.
	n := store.Len()
	require.NoError(t, repo.Save(ctx, a))
	assert.Equal(t, n, store.Len())
}

func TestUpdateCreatesAndNoChangeUpdateWritesNothing(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store)
	acc, err := repo.Update(context.Background(), "new", func(a *Account) error {
		assert.Equal(t, "new", a.AggregateID())
		assert.Equal(t, int64(0), a.AggregateVersion())
		return a.Open("carol")
	})
	require.NoError(t, err)
	assert.Equal(t, int64(1), acc.StoredVersion())

	acc, err = repo.Update(context.Background(), "new", func(*Account) error { return nil })
	require.NoError(t, err)
	assert.Equal(t, "carol", acc.Owner)
	assert.Equal(t, 1, store.Len())
}

func TestMetadataFromContextAndStreamID(t *testing.T) {
	store := memory.New()
	repo := newRepo(t, store, aggregate.WithStreamID(func(id string) string { return "account-" + id }))
	md := eventstore.Metadata{CorrelationID: "req-1", Values: map[string]string{"user": "ops"}}
	ctx := eventstore.ContextWithMetadata(context.Background(), md)
	_, err := repo.Update(ctx, "7", func(a *Account) error { return a.Open("dave") })
	require.NoError(t, err)

	n := 0
	for rec, err := range store.ReadStream(ctx, "account-7", 1) {
		require.NoError(t, err)
		assert.Equal(t, md, rec.Metadata)
		n++
	}
	assert.Equal(t, 1, n)
	acc, err := repo.Load(ctx, "7")
	require.NoError(t, err)
	assert.Equal(t, "7", acc.AggregateID(), "the aggregate keeps its own ID; only the stream is prefixed")
}

// TestConcurrentUpdates runs many commands on one aggregate at once through
// the real memory store: retries must make every one of them count.
func TestConcurrentUpdates(t *testing.T) {
	const writers = 8
	store := memory.New()
	repo := newRepo(t, store, aggregate.WithRetry(writers+1, 10*time.Microsecond, time.Millisecond))
	open(t, repo, "acc", 0)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := repo.Update(context.Background(), "acc", func(a *Account) error { return a.Deposit(1) })
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	acc, err := repo.Load(context.Background(), "acc")
	require.NoError(t, err)
	assert.Equal(t, int64(writers), acc.Balance)
	assert.Equal(t, int64(writers+1), acc.AggregateVersion())
}
