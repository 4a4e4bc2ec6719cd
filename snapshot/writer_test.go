package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/snapshot"
	"github.com/kafkaes/kafkaes/snapshot/memory"
)

// flakyStore fails the first failures saves, and blocks every save while
// gate is set and open.
type flakyStore struct {
	*memory.Store
	mu       sync.Mutex
	failures int
	calls    int
	gate     chan struct{}
	entered  chan struct{} // receives a value as each Save starts, when set
}

func (f *flakyStore) Save(ctx context.Context, s snapshot.Snapshot) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.failures
	gate := f.gate
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if fail {
		return errors.New("broker unavailable")
	}
	return f.Store.Save(ctx, s)
}

func quiet() snapshot.Option {
	return snapshot.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func snap(stream string, v int64) snapshot.Snapshot {
	return snapshot.Snapshot{StreamID: stream, Version: v, Type: "t", Data: []byte{byte(v)}, TakenAt: time.Now().UTC()}
}

func TestWriterRetriesFailedWrites(t *testing.T) {
	ctx := context.Background()
	fs := &flakyStore{Store: memory.New(), failures: 2}
	w := snapshot.NewWriter(fs, quiet(), snapshot.WithRetry(5, time.Millisecond, 5*time.Millisecond))
	require.True(t, w.Enqueue(snap("a", 3)))
	require.NoError(t, w.Flush(ctx))
	got, err := fs.Store.Load(ctx, "a")
	require.NoError(t, err)
	require.EqualValues(t, 3, got.Version)
	st := w.Stats()
	require.Equal(t, snapshot.WriterStats{Written: 1, Failed: 2}, st)
}

func TestWriterGivesUpAfterAttempts(t *testing.T) {
	ctx := context.Background()
	fs := &flakyStore{Store: memory.New(), failures: 100}
	w := snapshot.NewWriter(fs, quiet(), snapshot.WithRetry(3, time.Millisecond, time.Millisecond))
	w.Enqueue(snap("a", 1))
	require.NoError(t, w.Flush(ctx))
	require.Equal(t, snapshot.WriterStats{Failed: 3, GaveUp: 1}, w.Stats())
	_, err := fs.Store.Load(ctx, "a")
	require.ErrorIs(t, err, snapshot.ErrNotFound)
}

func TestWriterBoundedQueueCoalescesAndDrops(t *testing.T) {
	ctx := context.Background()
	gate := make(chan struct{})
	entered := make(chan struct{}, 10)
	fs := &flakyStore{Store: memory.New(), gate: gate, entered: entered}
	w := snapshot.NewWriter(fs, quiet(), snapshot.WithQueueSize(2))
	require.True(t, w.Enqueue(snap("a", 1)))
	<-entered                                // the worker took a@1 and blocks in Save
	require.True(t, w.Enqueue(snap("a", 2))) // replaces the entry of a
	require.True(t, w.Enqueue(snap("b", 1)))
	require.False(t, w.Enqueue(snap("c", 1)), "queue of 2 streams is full")
	require.False(t, w.Enqueue(snap("b", 0)), "older than the waiting one")
	require.True(t, w.Enqueue(snap("a", 5)))

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, w.Flush(short), context.DeadlineExceeded, "writes are blocked")
	st := w.Stats()
	require.Equal(t, 2, st.Pending)
	require.EqualValues(t, 1, st.Dropped)

	close(gate)
	require.NoError(t, w.Flush(ctx))
	for stream, want := range map[string]int64{"a": 5, "b": 1} {
		got, err := fs.Store.Load(ctx, stream)
		require.NoError(t, err)
		require.Equal(t, want, got.Version, stream)
	}
	_, err := fs.Store.Load(ctx, "c")
	require.ErrorIs(t, err, snapshot.ErrNotFound)
	st = w.Stats()
	require.Zero(t, st.Pending)
	require.EqualValues(t, 3, st.Written, "a@1 (in flight), a@5 (coalesced from a@2), b@1")
}

func TestWriterFlushIdle(t *testing.T) {
	w := snapshot.NewWriter(memory.New())
	require.NoError(t, w.Flush(context.Background()))
}

func TestWriterLimitsQueueFullWarnings(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	entered := make(chan struct{}, 10)
	fs := &flakyStore{Store: memory.New(), gate: gate, entered: entered}
	var logs strings.Builder // written only by Enqueue, on this goroutine
	w := snapshot.NewWriter(fs, snapshot.WithQueueSize(1), snapshot.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.True(t, w.Enqueue(snap("a", 1)))
	<-entered
	for i := range 5 {
		require.False(t, w.Enqueue(snap(fmt.Sprint("s", i), 1)))
	}
	require.EqualValues(t, 5, w.Stats().Dropped)
	require.Equal(t, 1, strings.Count(logs.String(), "write queue full"), logs.String())
	require.Contains(t, logs.String(), "dropped_total=1")
}
