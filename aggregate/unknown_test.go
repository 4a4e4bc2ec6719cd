package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
)

// unsure is a store that, for the next `unknown` appends, reports that it
// does not know the outcome: after writing the events when `written` is
// set (the answer was lost), without writing them otherwise. It records
// the event IDs of every append it was asked for.
type unsure struct {
	*memory.Store
	mu      sync.Mutex
	unknown int
	written bool
	asked   [][]string
	// then, when set, is the error of every append after the unknown
	// ones (a repeat that fails without learning the first's fate).
	then error
}

func (s *unsure) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	s.mu.Lock()
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	s.asked = append(s.asked, ids)
	lose := s.unknown > 0
	s.unknown--
	then := s.then
	s.mu.Unlock()
	if !lose && then != nil {
		return eventstore.AppendResult{}, then
	}
	if !lose {
		return s.Store.Append(ctx, id, exp, evs...)
	}
	if s.written {
		if _, err := s.Store.Append(ctx, id, exp, evs...); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return eventstore.AppendResult{}, fmt.Errorf("test store: connection lost during commit: %w", eventstore.ErrUnknownOutcome)
}

// TestSaveAfterUnknownOutcome: when the store cannot tell whether an append
// was written, Save repeats it with the same event IDs (an idempotent
// repeat if it was written), Update does not run the command again, and
// the stream holds the events exactly once.
func TestSaveAfterUnknownOutcome(t *testing.T) {
	for _, written := range []bool{true, false} {
		t.Run(fmt.Sprintf("written=%v", written), func(t *testing.T) {
			ctx := context.Background()
			store := &unsure{Store: memory.New()}
			repo := newRepo(t, store, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
			open(t, repo, "acc", 100)

			store.mu.Lock()
			store.unknown, store.written, store.asked = 2, written, nil
			store.mu.Unlock()
			calls := 0
			acc, err := repo.Update(ctx, "acc", func(a *Account) error {
				calls++
				return a.Deposit(50)
			})
			require.NoError(t, err)
			require.Equal(t, 1, calls, "the command must not run again after an unknown outcome")
			require.Equal(t, int64(150), acc.Balance)

			store.mu.Lock()
			asked := store.asked
			store.mu.Unlock()
			require.Len(t, asked, 3, "two unknown outcomes, then the answer")
			require.Equal(t, asked[0], asked[1], "a repeated save keeps the event IDs")
			require.Equal(t, asked[0], asked[2])

			var deposits []int64
			for ev, err := range store.ReadStream(ctx, "acc", 1) {
				require.NoError(t, err)
				if ev.Type == "bank.MoneyDeposited" {
					deposits = append(deposits, ev.Version)
				}
			}
			require.Len(t, deposits, 2, "the opening deposit and this one, each once")
			require.Equal(t, acc.StoredVersion(), int64(3))
		})
	}
}

// TestSaveStillUnknown: when the outcome stays unknown through every retry,
// Save returns an error matching eventstore.ErrUnknownOutcome and keeps the
// changes and their IDs, so a later Save writes them once.
func TestSaveStillUnknown(t *testing.T) {
	ctx := context.Background()
	store := &unsure{Store: memory.New()}
	repo := newRepo(t, store, aggregate.WithRetry(3, time.Microsecond, time.Millisecond))
	open(t, repo, "acc", 0)

	acc, err := repo.Load(ctx, "acc")
	require.NoError(t, err)
	require.NoError(t, acc.Deposit(7))
	store.mu.Lock()
	store.unknown, store.written, store.asked = 100, true, nil
	store.mu.Unlock()
	err = repo.Save(ctx, acc)
	require.True(t, errors.Is(err, eventstore.ErrUnknownOutcome), "got %v", err)
	require.Len(t, acc.Changes(), 1, "the changes stay until they are saved")

	store.mu.Lock()
	store.unknown = 0
	store.mu.Unlock()
	require.NoError(t, repo.Save(ctx, acc))
	require.Empty(t, acc.Changes())
	store.mu.Lock()
	asked := store.asked
	store.mu.Unlock()
	require.Len(t, asked, 4)
	for _, a := range asked[1:] {
		require.Equal(t, asked[0], a)
	}
	n := 0
	for _, err := range store.ReadStream(ctx, "acc", 1) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 2, n, "opened + one deposit")
}

// TestRepeatFailingAfterUnknown: a repeat of an append with an unknown
// outcome that fails with an error saying nothing about the first attempt
// (here a deadline with "nothing was written", as a store that forgot the
// first attempt would say) must not turn into a definite failure: Save
// still reports an unknown outcome, and Update does not run the command
// again.
func TestRepeatFailingAfterUnknown(t *testing.T) {
	ctx := context.Background()
	store := &unsure{Store: memory.New()}
	repo := newRepo(t, store, aggregate.WithRetry(3, time.Microsecond, time.Millisecond))
	open(t, repo, "acc", 0)
	store.mu.Lock()
	store.unknown, store.written, store.asked = 1, true, nil
	store.then = fmt.Errorf("test store: append: %w (nothing was written)", context.DeadlineExceeded)
	store.mu.Unlock()
	calls := 0
	_, err := repo.Update(ctx, "acc", func(a *Account) error {
		calls++
		return a.Deposit(5)
	})
	require.ErrorIs(t, err, eventstore.ErrUnknownOutcome, "the first attempt was written; the repeat proved nothing")
	require.Equal(t, 1, calls)
	require.Len(t, store.asked, 3, "the repeats until WithRetry's attempts are used")
}

// flaky is a store whose next `unavailable` reads and appends fail with
// eventstore.ErrUnavailable (nothing written, nothing read).
type flaky struct {
	*memory.Store
	mu             sync.Mutex
	reads, appends int
}

func (s *flaky) take(n *int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

func (s *flaky) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[eventstore.RecordedEvent, error] {
	if s.take(&s.reads) {
		return func(yield func(eventstore.RecordedEvent, error) bool) {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("test store: a transaction is undecided: %w", eventstore.ErrUnavailable))
		}
	}
	return s.Store.ReadStream(ctx, id, from)
}

func (s *flaky) Append(ctx context.Context, id string, exp eventstore.ExpectedVersion, evs ...eventstore.Event) (eventstore.AppendResult, error) {
	if s.take(&s.appends) {
		return eventstore.AppendResult{}, fmt.Errorf("test store: broker away: %w", eventstore.ErrUnavailable)
	}
	return s.Store.Append(ctx, id, exp, evs...)
}

// TestUnavailableIsRetried: Load retries a read that the store could not
// complete (eventstore.ErrUnavailable), and Update retries an append that
// the store could not do, with the retry policy.
func TestUnavailableIsRetried(t *testing.T) {
	ctx := context.Background()
	store := &flaky{Store: memory.New()}
	repo := newRepo(t, store, aggregate.WithRetry(5, time.Microsecond, time.Millisecond))
	open(t, repo, "acc", 10)

	store.mu.Lock()
	store.reads = 2
	store.mu.Unlock()
	acc, err := repo.Load(ctx, "acc")
	require.NoError(t, err, "two unavailable reads, then the stream")
	require.Equal(t, int64(10), acc.Balance)

	store.mu.Lock()
	store.reads, store.appends = 1, 2
	store.mu.Unlock()
	acc, err = repo.Update(ctx, "acc", func(a *Account) error { return a.Deposit(1) })
	require.NoError(t, err)
	require.Equal(t, int64(11), acc.Balance)

	store.mu.Lock()
	store.reads = 100
	store.mu.Unlock()
	_, err = repo.Load(ctx, "acc")
	require.ErrorIs(t, err, eventstore.ErrUnavailable, "after the attempts are used")
}
