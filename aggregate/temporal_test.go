package aggregate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

// TestLoadAtAndAsOf: LoadAt(v) and LoadAsOf(time of event v) give the
// state a plain load had right after event v, with and without snapshots
// (a snapshot above the target is not used, one at or below it is), and
// say ErrNotFound for a version the stream does not have yet or a time
// before its first event.
func TestLoadAtAndAsOf(t *testing.T) {
	ctx := context.Background()
	es, ss := newSnapEventStore(), snapmem.New()
	sd := snapSerde(t, true)
	plain := aggregate.NewRepository(es, sd, newCounter)
	snapped := aggregate.NewRepository(es, sd, newCounter, aggregate.WithSnapshots(ss, snapshot.EveryN(10)))

	want := map[int64]*snapCounter{}
	for i := range 25 {
		c, err := snapped.Update(ctx, "c1", addN(int64(i+1)))
		require.NoError(t, err)
		got, err := plain.Load(ctx, "c1")
		require.NoError(t, err)
		require.EqualValues(t, i+1, got.AggregateVersion())
		want[int64(i+1)] = got
		_ = c
	}
	require.NoError(t, snapped.FlushSnapshots(ctx))
	snap, err := ss.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 20, snap.Version)

	recorded := map[int64]time.Time{}
	for rec, err := range es.ReadStream(ctx, "c1", 1) {
		require.NoError(t, err)
		recorded[rec.Version] = rec.RecordedAt
	}

	for _, repo := range []*aggregate.Repository[*snapCounter]{plain, snapped} {
		for _, v := range []int64{1, 9, 10, 19, 20, 21, 25} {
			before := es.readCount()
			got, err := repo.LoadAt(ctx, "c1", v)
			require.NoError(t, err)
			require.EqualValues(t, v, got.AggregateVersion())
			require.Equal(t, want[v].N, got.N, "LoadAt(%d)", v)
			reads := es.readCount() - before
			if repo == snapped && v >= 20 {
				// the event the snapshot covers, 21..v, and one past v
				require.LessOrEqual(t, reads, v-20+2, "LoadAt(%d) starts from the snapshot at 20", v)
			} else {
				require.GreaterOrEqual(t, reads, v, "LoadAt(%d) reads from the first event", v)
				require.LessOrEqual(t, reads, v+1, "LoadAt(%d) stops after version %d", v, v)
			}

			got, err = repo.LoadAsOf(ctx, "c1", recorded[v])
			require.NoError(t, err)
			// Events recorded in the same instant count as of it too.
			last := v
			for last < 25 && !recorded[last+1].After(recorded[v]) {
				last++
			}
			require.EqualValues(t, last, got.AggregateVersion(), "LoadAsOf(time of %d)", v)
			require.Equal(t, want[last].N, got.N)
		}

		_, err := repo.LoadAt(ctx, "c1", 26)
		require.ErrorIs(t, err, aggregate.ErrNotFound)
		require.ErrorContains(t, err, "has 25 events, no version 26")
		_, err = repo.LoadAt(ctx, "c1", 0)
		require.ErrorContains(t, err, "versions start at 1")
		_, err = repo.LoadAt(ctx, "nobody", 1)
		require.ErrorIs(t, err, aggregate.ErrNotFound)
		_, err = repo.LoadAsOf(ctx, "c1", recorded[1].Add(-time.Nanosecond))
		require.ErrorIs(t, err, aggregate.ErrNotFound)
		got, err := repo.LoadAsOf(ctx, "c1", time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.EqualValues(t, 25, got.AggregateVersion())
	}

	// A past state cannot be saved over the present.
	old, err := plain.LoadAt(ctx, "c1", 5)
	require.NoError(t, err)
	aggregate.Raise(old, snapAdded{N: 1})
	require.ErrorIs(t, plain.Save(ctx, old), eventstore.ErrConcurrencyConflict)
}
