package memory_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/snapshot"
	"github.com/kafkaes/kafkaes/snapshot/memory"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	_, err := s.Load(ctx, "a")
	require.ErrorIs(t, err, snapshot.ErrNotFound)

	data := []byte("v2")
	require.NoError(t, s.Save(ctx, snapshot.Snapshot{StreamID: "a", Version: 2, Type: "t", Data: data}))
	data[0] = 'X' // the store keeps its own copy
	require.NoError(t, s.Save(ctx, snapshot.Snapshot{StreamID: "a", Version: 1, Type: "t", Data: []byte("v1")}))
	got, err := s.Load(ctx, "a")
	require.NoError(t, err)
	require.EqualValues(t, 2, got.Version, "an older snapshot does not replace a newer one")
	require.Equal(t, "v2", string(got.Data))
	got.Data[0] = 'Y'
	again, _ := s.Load(ctx, "a")
	require.Equal(t, "v2", string(again.Data), "callers get copies")

	require.Error(t, s.Save(ctx, snapshot.Snapshot{StreamID: "a", Version: 0, Type: "t"}))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Load(cancelled, "a")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, s.Save(cancelled, got), context.Canceled)

	s.Put(snapshot.Snapshot{StreamID: "a", Version: 1, Type: "t"})
	got, _ = s.Load(ctx, "a")
	require.EqualValues(t, 1, got.Version)
	require.Equal(t, 1, s.Len())
	s.Delete("a")
	require.Zero(t, s.Len())
}
