package aggregate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

// TestSnapshotPropertyLoadEqualsFullReplay checks, for random event
// histories, random snapshot policies and random damage to the latest
// snapshot, that loading with snapshots gives exactly the aggregate that
// replaying every event gives. Set KAFKAES_SEED to replay a failing run.
func TestSnapshotPropertyLoadEqualsFullReplay(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KAFKAES_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "KAFKAES_SEED must be an unsigned integer")
		seed = v
	}
	t.Logf("seed %d (rerun with KAFKAES_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx := context.Background()
	sd := snapSerde(t, true)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	iterations := 60
	if testing.Short() {
		iterations = 15
	}
	var hits, ignored int64
	for it := range iterations {
		es, ps := newSnapEventStore(), &plantedStore{Store: snapmem.New()}
		schema := rng.IntN(3)
		newT := func(schema int) func() *snapLedger {
			return func() *snapLedger { return &snapLedger{schema: schema} }
		}
		every := int64(1 + rng.IntN(40))
		repo := aggregate.NewRepository(es, sd, newT(schema), aggregate.WithLogger(quiet),
			aggregate.WithSnapshots(ps, snapshot.EveryN(every)))
		plain := aggregate.NewRepository(es, sd, newT(schema))
		check := func(r *aggregate.Repository[*snapLedger], p *aggregate.Repository[*snapLedger], id, what string) {
			t.Helper()
			got, err := r.Load(ctx, id)
			want, werr := p.Load(ctx, id)
			require.Equal(t, werr != nil, err != nil, "iteration %d %s: stream %s: errors differ: %v / %v", it, what, id, err, werr)
			require.Equal(t, want, got, "iteration %d %s: stream %s (EveryN(%d), seed %d)", it, what, id, every, seed)
		}

		streams := 1 + rng.IntN(3)
		for s := range streams {
			id := fmt.Sprintf("s%d", s)
			target := rng.IntN(300)
			for v := 0; v < target; {
				k := 1 + rng.IntN(4)
				raise := func(l *snapLedger) error {
					for range k {
						switch rng.IntN(6) {
						case 0:
							aggregate.Raise(l, snapRenamed{Name: strconv.Itoa(rng.IntN(1000))})
						case 1:
							aggregate.Raise(l, snapReset{})
						default:
							aggregate.Raise(l, snapAdded{N: rng.Int64N(1 << 40)})
						}
					}
					return nil
				}
				if rng.IntN(4) == 0 && v > 0 { // the Load + Save path
					l, err := repo.Load(ctx, id)
					require.NoError(t, err)
					require.NoError(t, raise(l))
					require.NoError(t, repo.Save(ctx, l))
				} else {
					_, err := repo.Update(ctx, id, raise)
					require.NoError(t, err)
				}
				v += k
				if rng.IntN(5) == 0 {
					require.NoError(t, repo.FlushSnapshots(ctx))
				}
				if rng.IntN(8) == 0 {
					check(repo, plain, id, "during history")
				}
			}
		}
		require.NoError(t, repo.FlushSnapshots(ctx))
		for s := range streams {
			check(repo, plain, fmt.Sprintf("s%d", s), "intact")
		}

		// Damage the latest snapshot of one stream in a random way.
		id := fmt.Sprintf("s%d", rng.IntN(streams))
		snap, err := ps.Store.Load(ctx, id)
		if err != nil {
			continue // history too short for a snapshot
		}
		fault := rng.IntN(5)
		switch fault {
		case 0: // the aggregate's snapshot version changes
			repo = aggregate.NewRepository(es, sd, newT(schema+1), aggregate.WithLogger(quiet),
				aggregate.WithSnapshots(ps, snapshot.EveryN(every)))
			plain = aggregate.NewRepository(es, sd, newT(schema+1))
		case 1: // the snapshot is ahead of the stream
			snap.Version += 1 + rng.Int64N(5)
			ps.planted = &snap
		case 2: // the events topic lost its tail (the snapshot may now be ahead)
			es.truncate(id, rng.Int64N(snap.Version+1))
		case 3: // another history of the stream
			snap.EventID = "other"
			ps.planted = &snap
		case 4: // undecodable state
			snap.Data = snap.Data[:len(snap.Data)/2]
			ps.planted = &snap
		}
		check(repo, plain, id, fmt.Sprintf("after fault %d", fault))
		// Commands keep working on top of a damaged snapshot.
		ps.planted = nil
		if _, err := repo.Load(ctx, id); err == nil {
			for range 1 + rng.IntN(int(every)+2) {
				_, err := repo.Update(ctx, id, func(l *snapLedger) error { aggregate.Raise(l, snapAdded{N: 1}); return nil })
				require.NoError(t, err)
			}
			require.NoError(t, repo.FlushSnapshots(ctx))
			check(repo, plain, id, fmt.Sprintf("after fault %d and more commands", fault))
		}
		st := repo.SnapshotStats()
		hits += st.Hits
		ignored += st.Ignored
	}
	t.Logf("%d iterations: %d loads from snapshots, %d snapshots ignored", iterations, hits, ignored)
	require.Positive(t, hits, "the property must exercise loads from snapshots")
	require.Positive(t, ignored, "the property must exercise ignored snapshots")
}
