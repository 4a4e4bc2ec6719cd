package aggregate_test

import (
	"context"
	"errors"
	"fmt"
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
	s.mu.Unlock()
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
