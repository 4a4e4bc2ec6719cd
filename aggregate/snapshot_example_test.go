package aggregate_test

import (
	"context"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	esmemory "github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

type snapDeposited struct{ Amount int64 }

// snapWallet is snapshotted as itself: its exported fields are the state.
type snapWallet struct {
	aggregate.Root
	Balance int64
}

func (w *snapWallet) Apply(ev any) {
	if d, ok := ev.(snapDeposited); ok {
		w.Balance += d.Amount
	}
}

// A repository with snapshots: every 100 events a snapshot of the wallet
// is written in the background; a load reads the latest snapshot and only
// the events after it.
func ExampleWithSnapshots() {
	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[snapDeposited](reg, "example.Deposited")
	serde.MustRegister[snapWallet](reg, "example.Wallet") // the snapshot state's type name

	snaps := snapmem.New()
	repo := aggregate.NewRepository(esmemory.New(), serde.NewJSON(reg), func() *snapWallet { return &snapWallet{} },
		aggregate.WithSnapshots(snaps, snapshot.EveryN(100)))
	for range 250 {
		if _, err := repo.Update(ctx, "wallet-1", func(w *snapWallet) error {
			aggregate.Raise(w, snapDeposited{Amount: 2})
			return nil
		}); err != nil {
			fmt.Println(err)
			return
		}
	}
	_ = repo.FlushSnapshots(ctx) // wait for the background writes (tests, shutdown)

	hits := repo.SnapshotStats().Hits
	w, err := repo.Load(ctx, "wallet-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := snaps.Load(ctx, "wallet-1")
	fmt.Printf("balance %d at version %d\n", w.Balance, w.AggregateVersion())
	fmt.Printf("loaded from the snapshot at version %d: %v\n", s.Version, repo.SnapshotStats().Hits == hits+1)
	fmt.Println("snapshots taken:", repo.SnapshotStats().Taken)
	// Output:
	// balance 500 at version 250
	// loaded from the snapshot at version 200: true
	// snapshots taken: 2
}
