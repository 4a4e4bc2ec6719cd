package aggregate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

// Events of the snapshot tests.
type (
	snapAdded   struct{ N int64 }
	snapRenamed struct{ Name string }
	snapReset   struct{}
)

// snapCounter is snapshotted as itself (the repository's default).
type snapCounter struct {
	aggregate.Root
	N    int64
	Last string
	Seen int
}

func (c *snapCounter) Apply(ev any) {
	c.Seen++
	switch e := ev.(type) {
	case snapAdded:
		c.N += e.N
	case snapRenamed:
		c.Last = e.Name
	case snapReset:
		c.N = 0
	}
}

// snapLedger chooses its snapshot state (Snapshotter) and versions it.
type snapLedger struct {
	aggregate.Root
	schema int // the SnapshotVersion this build of the aggregate declares; Apply depends on it

	Total  int64
	Name   string
	Count  int
	Digest uint64 // depends on every event and their order
}

type snapLedgerState struct {
	Total  int64
	Name   string
	Count  int
	Digest uint64
}

func (l *snapLedger) Apply(ev any) {
	l.Count++
	switch e := ev.(type) {
	case snapAdded:
		l.Total += e.N
		l.Digest = l.Digest*uint64(31+l.schema) + uint64(e.N)
	case snapRenamed:
		l.Name = e.Name
		l.Digest = l.Digest*uint64(31+l.schema) + uint64(len(e.Name)) + 7
	case snapReset:
		l.Total = 0
		l.Digest = l.Digest*uint64(31+l.schema) + 3
	}
}

func (l *snapLedger) SnapshotVersion() int { return l.schema }

func (l *snapLedger) SnapshotState() any {
	return snapLedgerState{Total: l.Total, Name: l.Name, Count: l.Count, Digest: l.Digest}
}

func (l *snapLedger) RestoreSnapshot(state any) error {
	s, ok := state.(snapLedgerState)
	if !ok {
		return fmt.Errorf("want snapLedgerState, got %T", state)
	}
	l.Total, l.Name, l.Count, l.Digest = s.Total, s.Name, s.Count, s.Digest
	return nil
}

func snapSerde(t testing.TB, withCounter bool) serde.Serde {
	t.Helper()
	reg := serde.NewRegistry()
	require.NoError(t, serde.Register[snapAdded](reg, "test.Added"))
	require.NoError(t, serde.Register[snapRenamed](reg, "test.Renamed"))
	require.NoError(t, serde.Register[snapReset](reg, "test.Reset"))
	require.NoError(t, serde.Register[snapLedgerState](reg, "test.LedgerState"))
	if withCounter {
		require.NoError(t, serde.Register[snapCounter](reg, "test.Counter"))
	}
	return serde.NewJSON(reg)
}

// syncBuffer is a log sink safe for the background writer's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func snapLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func newCounter() *snapCounter { return &snapCounter{} }

func addN(n int64) func(*snapCounter) error {
	return func(c *snapCounter) error { aggregate.Raise(c, snapAdded{N: n}); return nil }
}

func TestSnapshotLoadReadsOnlyEventsAfterSnapshot(t *testing.T) {
	ctx := context.Background()
	es, ss := newSnapEventStore(), snapmem.New()
	sd := snapSerde(t, true)
	log, _ := snapLogger()
	repo := aggregate.NewRepository(es, sd, newCounter, aggregate.WithLogger(log),
		aggregate.WithSnapshots(ss, snapshot.EveryN(10)))
	for i := range 25 {
		_, err := repo.Update(ctx, "c1", addN(int64(i+1)))
		require.NoError(t, err)
	}
	require.NoError(t, repo.FlushSnapshots(ctx))
	st := repo.SnapshotStats()
	require.EqualValues(t, 2, st.Taken, "EveryN(10) over 25 single-event saves snapshots at 10 and 20")
	require.True(t, st.Writer.Written == 1 || st.Writer.Written == 2, "the snapshot at 10 may be replaced by the one at 20 while still queued")
	snap, err := ss.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 20, snap.Version)
	require.Equal(t, "test.Counter", snap.Type)
	require.NotEmpty(t, snap.EventID)

	before := es.readCount()
	got, err := repo.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 6, es.readCount()-before, "reads event 20 (to verify the snapshot) and 21..25")
	require.EqualValues(t, 25*26/2, got.N)
	require.EqualValues(t, 25, got.AggregateVersion())
	require.Equal(t, "c1", got.AggregateID())
	require.Equal(t, 25, got.Seen)
	require.EqualValues(t, st.Hits+1, repo.SnapshotStats().Hits)

	plain := aggregate.NewRepository(es, sd, newCounter)
	want, err := plain.Load(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestSnapshotUnusableIsIgnoredAndRebuilt(t *testing.T) {
	ctx := context.Background()
	sd := snapSerde(t, true)
	cases := []struct {
		name   string
		mutate func(s *snapshot.Snapshot, es *snapEventStore)
		reason string
	}{
		{"schema version", func(s *snapshot.Snapshot, _ *snapEventStore) { s.SchemaVersion = 7 }, "SnapshotVersion"},
		{"unknown type", func(s *snapshot.Snapshot, _ *snapEventStore) { s.Type = "test.Gone" }, "cannot decode"},
		{"garbage data", func(s *snapshot.Snapshot, _ *snapEventStore) { s.Data = []byte("{\x00") }, "cannot decode"},
		{"other Go type", func(s *snapshot.Snapshot, _ *snapEventStore) {
			s.Type, s.Data = "test.LedgerState", []byte(`{"Total":99}`)
		}, "decodes to"},
		{"ahead of stream", func(s *snapshot.Snapshot, _ *snapEventStore) { s.Version = 1000 }, "ahead"},
		{"stream truncated below snapshot", func(s *snapshot.Snapshot, es *snapEventStore) { es.truncate("c1", 7) }, "ahead"},
		{"other history", func(s *snapshot.Snapshot, _ *snapEventStore) { s.EventID = "not-the-event" }, "another history"},
		{"other stream", func(s *snapshot.Snapshot, _ *snapEventStore) { s.StreamID = "c2" }, "c2"},
		{"version zero", func(s *snapshot.Snapshot, _ *snapEventStore) { s.Version = 0 }, "invalid snapshot version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			es, ss := newSnapEventStore(), snapmem.New()
			ps := &plantedStore{Store: ss}
			log, logs := snapLogger()
			repo := aggregate.NewRepository(es, sd, newCounter, aggregate.WithLogger(log),
				aggregate.WithSnapshots(ps, snapshot.EveryN(10)))
			for i := range 12 {
				_, err := repo.Update(ctx, "c1", addN(int64(i+1)))
				require.NoError(t, err)
			}
			require.NoError(t, repo.FlushSnapshots(ctx))
			snap, err := ss.Load(ctx, "c1")
			require.NoError(t, err)
			require.EqualValues(t, 10, snap.Version)
			hits := repo.SnapshotStats().Hits
			tc.mutate(&snap, es)
			ps.planted = &snap // returned for c1 whatever it says inside

			got, err := repo.Load(ctx, "c1")
			require.NoError(t, err)
			want, err := aggregate.NewRepository(es, sd, newCounter).Load(ctx, "c1")
			require.NoError(t, err)
			require.Equal(t, want, got)
			st := repo.SnapshotStats()
			require.EqualValues(t, 1, st.Ignored)
			require.Equal(t, hits, st.Hits)
			require.Contains(t, logs.String(), "snapshot ignored")
			require.Contains(t, logs.String(), tc.reason)
		})
	}
}

// plantedStore returns planted from Load when it is set.
type plantedStore struct {
	snapshot.Store
	mu      sync.Mutex
	planted *snapshot.Snapshot
}

func (p *plantedStore) Load(ctx context.Context, id string) (snapshot.Snapshot, error) {
	p.mu.Lock()
	pl := p.planted
	p.mu.Unlock()
	if pl != nil {
		return *pl, nil
	}
	return p.Store.Load(ctx, id)
}

// faultyStore fails or blocks on demand.
type faultyStore struct {
	snapshot.Store
	loadErr, saveErr error
	block            chan struct{} // Save waits for it to be closed, when set
	mu               sync.Mutex
	saves            int
}

func (f *faultyStore) Load(ctx context.Context, id string) (snapshot.Snapshot, error) {
	if f.loadErr != nil {
		return snapshot.Snapshot{}, f.loadErr
	}
	return f.Store.Load(ctx, id)
}

func (f *faultyStore) Save(ctx context.Context, s snapshot.Snapshot) error {
	f.mu.Lock()
	f.saves++
	f.mu.Unlock()
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.saveErr != nil {
		return f.saveErr
	}
	return f.Store.Save(ctx, s)
}

func TestSnapshotStoreFailuresNeverFailCommands(t *testing.T) {
	ctx := context.Background()
	es := newSnapEventStore()
	fs := &faultyStore{Store: snapmem.New(), loadErr: errors.New("snapshot store down"), saveErr: errors.New("snapshot store down")}
	log, logs := snapLogger()
	repo := aggregate.NewRepository(es, snapSerde(t, true), newCounter, aggregate.WithLogger(log),
		aggregate.WithSnapshots(fs, snapshot.EveryN(2), snapshot.WithRetry(3, time.Millisecond, 2*time.Millisecond)))
	for i := range 6 {
		_, err := repo.Update(ctx, "c1", addN(1))
		require.NoError(t, err, "update %d", i)
	}
	require.NoError(t, repo.FlushSnapshots(ctx))
	got, err := repo.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 6, got.N)
	st := repo.SnapshotStats()
	require.EqualValues(t, 7, st.LoadErrors, "6 updates and 1 load fell back to events")
	require.Positive(t, st.Taken)
	require.GreaterOrEqual(t, st.Writer.Failed, 3*st.Writer.GaveUp, "a snapshot is given up after 3 failed tries")
	require.Positive(t, st.Writer.GaveUp)
	require.Zero(t, st.Writer.Written)
	require.Contains(t, logs.String(), "snapshot store failed, rebuilding from events")
	require.Contains(t, logs.String(), "will retry")
	require.Contains(t, logs.String(), "giving up")

	// The store comes back: the next snapshot is written and used.
	fs.loadErr, fs.saveErr = nil, nil
	_, err = repo.Update(ctx, "c1", addN(1))
	require.NoError(t, err)
	_, err = repo.Update(ctx, "c1", addN(1))
	require.NoError(t, err)
	require.NoError(t, repo.FlushSnapshots(ctx))
	got, err = repo.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 8, got.N)
	require.EqualValues(t, 1, repo.SnapshotStats().Hits)
}

func TestSnapshotSlowStoreDoesNotBlockCommands(t *testing.T) {
	ctx := context.Background()
	es := newSnapEventStore()
	ss := snapmem.New()
	fs := &faultyStore{Store: ss, block: make(chan struct{})}
	log, _ := snapLogger()
	repo := aggregate.NewRepository(es, snapSerde(t, true), newCounter, aggregate.WithLogger(log),
		aggregate.WithSnapshots(fs, snapshot.EveryN(1)))
	for range 5 {
		_, err := repo.Update(ctx, "c1", addN(1)) // would hang if a command waited for Save
		require.NoError(t, err)
	}
	st := repo.SnapshotStats()
	require.EqualValues(t, 5, st.Taken)
	require.Equal(t, 1, st.Writer.Pending, "one stream waiting: queued snapshots of a stream are coalesced")
	close(fs.block)
	require.NoError(t, repo.FlushSnapshots(ctx))
	snap, err := ss.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 5, snap.Version, "the newest snapshot is written last")
	fs.mu.Lock()
	defer fs.mu.Unlock()
	require.LessOrEqual(t, fs.saves, 2, "the first write blocked; the four snapshots queued behind it collapse into one")
}

// opaqueSerde hides the serde's TypeChecker, so NewRepository cannot check
// the snapshot state and the run-time path is exercised.
type opaqueSerde struct{ serde.Serde }

func TestSnapshotEncodeErrorDoesNotFailCommands(t *testing.T) {
	ctx := context.Background()
	log, logs := snapLogger()
	repo := aggregate.NewRepository(newSnapEventStore(), opaqueSerde{snapSerde(t, false)}, newCounter, aggregate.WithLogger(log),
		aggregate.WithSnapshots(snapmem.New(), snapshot.EveryN(1)))
	for range 3 {
		_, err := repo.Update(ctx, "c1", addN(1))
		require.NoError(t, err)
	}
	st := repo.SnapshotStats()
	require.EqualValues(t, 3, st.EncodeErrors)
	require.Zero(t, st.Taken)
	require.Equal(t, 3, strings.Count(logs.String(), "cannot encode snapshot state"))
	require.Equal(t, 1, strings.Count(logs.String(), "level=ERROR"), "logged as an error once, then at debug level")
}

func TestSnapshotLoadThenSaveUsesKnownSnapshot(t *testing.T) {
	ctx := context.Background()
	es, ss := newSnapEventStore(), snapmem.New()
	repo := aggregate.NewRepository(es, snapSerde(t, true), newCounter,
		aggregate.WithSnapshots(ss, snapshot.EveryN(5)))
	for i := range 12 {
		var c *snapCounter
		if i == 0 {
			c = repo.New("c1")
		} else {
			var err error
			c, err = repo.Load(ctx, "c1")
			require.NoError(t, err)
		}
		aggregate.Raise(c, snapAdded{N: 1})
		require.NoError(t, repo.Save(ctx, c))
		require.NoError(t, repo.FlushSnapshots(ctx))
	}
	require.EqualValues(t, 2, repo.SnapshotStats().Taken, "snapshots at 5 and 10, not after every save past 5")
	snap, err := ss.Load(ctx, "c1")
	require.NoError(t, err)
	require.EqualValues(t, 10, snap.Version)
}

func TestSnapshotWithoutOptionHasZeroStats(t *testing.T) {
	repo := aggregate.NewRepository(newSnapEventStore(), snapSerde(t, true), newCounter)
	require.Equal(t, aggregate.SnapshotStats{}, repo.SnapshotStats())
	require.NoError(t, repo.FlushSnapshots(context.Background()))
}

func TestSnapshotConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	es, ss := newSnapEventStore(), snapmem.New()
	sd := snapSerde(t, true)
	log, _ := snapLogger()
	// Two repositories (two service instances) share both stores.
	opts := []aggregate.Option{aggregate.WithLogger(log), aggregate.WithRetry(100, 0, time.Millisecond),
		aggregate.WithSnapshots(ss, snapshot.EveryN(3))}
	repos := []*aggregate.Repository[*snapCounter]{
		aggregate.NewRepository(es, sd, newCounter, opts...),
		aggregate.NewRepository(es, sd, newCounter, opts...),
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := repos[g%2]
			for i := range 25 {
				stream := fmt.Sprint("c", i%3)
				if _, err := repo.Update(ctx, stream, addN(1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	plain := aggregate.NewRepository(es, sd, newCounter)
	var total int64
	for _, repo := range repos {
		require.NoError(t, repo.FlushSnapshots(ctx))
	}
	for i := range 3 {
		stream := fmt.Sprint("c", i)
		want, err := plain.Load(ctx, stream)
		require.NoError(t, err)
		for _, repo := range repos {
			got, err := repo.Load(ctx, stream)
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
		total += want.N
	}
	require.EqualValues(t, 8*25, total, "every update is applied exactly once")
	require.Positive(t, repos[0].SnapshotStats().Hits+repos[1].SnapshotStats().Hits)
}
