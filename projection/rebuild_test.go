package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
)

type rebuilt struct{ N int64 }

func rebuildFixture(t *testing.T, n int) (eventstore.Store, serde.Serde) {
	t.Helper()
	reg := serde.NewRegistry()
	serde.MustRegister[rebuilt](reg, "test.Rebuilt")
	sd := serde.NewJSON(reg)
	st := memory.New()
	for i := range n {
		name, data, err := sd.Marshal(context.Background(), rebuilt{N: int64(i)})
		require.NoError(t, err)
		_, err = st.Append(context.Background(), fmt.Sprint("s-", i%5), eventstore.Any, eventstore.Event{Type: name, Data: data})
		require.NoError(t, err)
	}
	return st, sd
}

// A rebuild swaps only after the fresh view has the whole log; a failing
// handler, a cancellation or a failing swap leave the current view serving
// and discard the fresh one.
func TestRebuild(t *testing.T) {
	st, sd := rebuildFixture(t, 50)
	ctx := context.Background()
	type outcome struct{ swapped, discarded bool }
	runRebuild := func(ctx context.Context, failAt int64, swapErr error) (*atomic.Int64, outcome, error) {
		var seen atomic.Int64
		var o outcome
		r, err := projection.New("view-v2", sd, []projection.Handler{
			projection.On(func(_ context.Context, ev rebuilt, _ projection.Meta) error {
				if ev.N == failAt {
					return errors.New("handler bug")
				}
				seen.Add(1)
				return nil
			}),
		}, projection.WithCheckpoints(&projection.MemoryCheckpoints{}), projection.WithRetry(1, 0, 0))
		require.NoError(t, err)
		var last projection.Progress
		err = r.Rebuild(ctx, projection.FromStore(st), projection.Rebuild{
			Swap: func(context.Context) error {
				o.swapped = swapErr == nil
				require.EqualValues(t, 50, seen.Load(), "swap only once the fresh view has the whole log")
				return swapErr
			},
			Discard:  func(context.Context) error { o.discarded = true; return nil },
			Progress: func(p projection.Progress) { last = p },
		})
		if err == nil {
			require.True(t, last.Finished)
			require.EqualValues(t, 50, last.Done)
		}
		return &seen, o, err
	}

	seen, o, err := runRebuild(ctx, -1, nil)
	require.NoError(t, err)
	require.Equal(t, outcome{swapped: true}, o)
	require.EqualValues(t, 50, seen.Load())

	_, o, err = runRebuild(ctx, 20, nil)
	require.ErrorIs(t, err, projection.ErrRebuildNotSwapped)
	require.ErrorContains(t, err, "handler bug")
	require.Equal(t, outcome{discarded: true}, o)

	_, o, err = runRebuild(ctx, -1, errors.New("rename failed"))
	require.ErrorIs(t, err, projection.ErrRebuildNotSwapped)
	require.ErrorContains(t, err, "rename failed")
	require.Equal(t, outcome{discarded: true}, o)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, o, err = runRebuild(cctx, -1, nil)
	require.ErrorIs(t, err, projection.ErrRebuildNotSwapped)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, outcome{discarded: true}, o)

	r, err := projection.New("view-v3", sd, []projection.Handler{projection.On(func(context.Context, rebuilt, projection.Meta) error { return nil })})
	require.NoError(t, err)
	require.ErrorContains(t, r.Rebuild(ctx, projection.FromStore(st), projection.Rebuild{}), "Swap is nil")
}
