package aggregate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	esmemory "github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

// walletRepo returns a repository of snapWallet on store, with snapshots
// in snaps every n events (no snapshots when snaps is nil).
func walletRepo(store eventstore.Store, snaps snapshot.Store, n int64) *aggregate.Repository[*snapWallet] {
	reg := serde.NewRegistry()
	serde.MustRegister[snapDeposited](reg, "example.Deposited")
	serde.MustRegister[snapWallet](reg, "example.Wallet")
	var opts []aggregate.Option
	if snaps != nil {
		opts = append(opts, aggregate.WithSnapshots(snaps, snapshot.EveryN(n)))
	}
	return aggregate.NewRepository(store, serde.NewJSON(reg), func() *snapWallet { return &snapWallet{} }, opts...)
}

func deposit(t *testing.T, repo *aggregate.Repository[*snapWallet], id string, times int) {
	t.Helper()
	for range times {
		_, err := repo.Update(context.Background(), id, func(w *snapWallet) error {
			aggregate.Raise(w, snapDeposited{Amount: 1})
			return nil
		})
		require.NoError(t, err)
	}
}

// TestLoadTruncatedWithSnapshot: a stream truncated before its snapshot, at its
// version, or right after it, loads from the snapshot with the right
// state and version (the truncate marker counts), and saves after it.
func TestLoadTruncatedWithSnapshot(t *testing.T) {
	for _, after := range []int64{-5, 0, 1} {
		ctx := context.Background()
		store, snaps := esmemory.New(), snapmem.New()
		repo := walletRepo(store, snaps, 10)
		deposit(t, repo, "w", 25)
		require.NoError(t, repo.FlushSnapshots(ctx))
		snap, err := snaps.Load(ctx, "w")
		require.NoError(t, err)
		require.Equal(t, int64(20), snap.Version)

		res, err := eventstore.TruncateStream(ctx, store, "w", eventstore.Exact(25), snap.Version+after)
		require.NoError(t, err)
		require.Equal(t, int64(26), res.Version)

		fresh := walletRepo(store, snaps, 10) // no snapshot marks cached
		w, err := fresh.Load(ctx, "w")
		require.NoError(t, err, "truncated before %d", snap.Version+after)
		require.Equal(t, int64(25), w.Balance)
		require.Equal(t, int64(26), w.AggregateVersion(), "the marker takes a version")
		require.Equal(t, int64(1), fresh.SnapshotStats().Hits)
		deposit(t, fresh, "w", 1)
		w, err = fresh.Load(ctx, "w")
		require.NoError(t, err)
		require.Equal(t, int64(26), w.Balance)
		require.Equal(t, int64(27), w.AggregateVersion())
	}
}

// TestLoadTruncatedWithoutUsableSnapshot: without a snapshot, or with one
// older than the truncation point, Load fails with ErrStreamTruncated
// rather than build the state from part of the history.
func TestLoadTruncatedWithoutUsableSnapshot(t *testing.T) {
	ctx := context.Background()
	store, snaps := esmemory.New(), snapmem.New()
	repo := walletRepo(store, snaps, 10)
	deposit(t, repo, "w", 15)
	require.NoError(t, repo.FlushSnapshots(ctx)) // a snapshot at 10
	_, err := eventstore.TruncateStream(ctx, store, "w", eventstore.Exact(15), 14)
	require.NoError(t, err)

	_, err = walletRepo(store, snaps, 10).Load(ctx, "w")
	require.ErrorIs(t, err, eventstore.ErrStreamTruncated, "the snapshot at 10 does not reach the truncation point 14")
	_, err = walletRepo(store, nil, 0).Load(ctx, "w")
	require.ErrorIs(t, err, eventstore.ErrStreamTruncated)
	require.Contains(t, err.Error(), "truncated")
	require.Contains(t, err.Error(), "snapshot at version 13 or later")
	_, err = walletRepo(store, nil, 0).Update(ctx, "w", func(*snapWallet) error { return nil })
	require.ErrorIs(t, err, eventstore.ErrStreamTruncated)
}

// TestLoadDeleted: a deleted stream's aggregate fails to load with
// ErrStreamDeleted; recreated, it loads only its new life.
func TestLoadDeleted(t *testing.T) {
	ctx := context.Background()
	store := esmemory.New()
	repo := walletRepo(store, nil, 0)
	deposit(t, repo, "w", 3)
	_, err := eventstore.DeleteStream(ctx, store, "w", eventstore.Exact(3))
	require.NoError(t, err)
	_, err = repo.Load(ctx, "w")
	require.ErrorIs(t, err, eventstore.ErrStreamDeleted)
	_, err = repo.Update(ctx, "w", func(w *snapWallet) error {
		aggregate.Raise(w, snapDeposited{Amount: 1})
		return nil
	})
	require.ErrorIs(t, err, eventstore.ErrStreamDeleted)

	_, err = eventstore.Recreate(ctx, store, "w", eventstore.Exact(4), eventstore.Event{Type: "example.Deposited", Data: []byte(`{"Amount":7}`)})
	require.NoError(t, err)
	w, err := repo.Load(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, int64(7), w.Balance, "only the events after the deletion")
	require.Equal(t, int64(5), w.AggregateVersion())
	deposit(t, repo, "w", 1)
}
