package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/snapshot"
	snapmem "github.com/kafkaes/kafkaes/snapshot/memory"
)

// newRepoPanic returns what NewRepository panicked with, or nil.
func newRepoPanic[T aggregate.Aggregate](sd serde.Serde, newT func() T) (p any) {
	defer func() { p = recover() }()
	aggregate.NewRepository(newSnapEventStore(), sd, newT, aggregate.WithSnapshots(snapmem.New(), snapshot.EveryN(1)))
	return nil
}

// A snapshot state the serde cannot encode is found at NewRepository, not
// logged after every save.
func TestNewRepositoryRejectsAnUnencodableSnapshotState(t *testing.T) {
	p := newRepoPanic(snapSerde(t, false), newCounter) // snapCounter is not registered
	require.NotNil(t, p, "NewRepository must fail when the state cannot be encoded")
	err, ok := p.(error)
	require.True(t, ok, "panics with an error: %v", p)
	require.ErrorIs(t, err, aggregate.ErrSnapshotState)
	require.ErrorIs(t, err, serde.ErrUnknownType)
	require.Contains(t, err.Error(), "snapCounter")
	require.Contains(t, err.Error(), "serde.Register")

	require.Nil(t, newRepoPanic(snapSerde(t, true), newCounter), "a registered state passes")
	require.Nil(t, newRepoPanic(opaqueSerde{snapSerde(t, false)}, newCounter), "a serde that cannot tell is not checked")
	// A Snapshotter's state type is checked: snapLedgerState is registered.
	require.Nil(t, newRepoPanic(snapSerde(t, false), func() *snapLedger { return &snapLedger{} }))
	reg := serde.NewRegistry()
	p = newRepoPanic(serde.NewJSON(reg), func() *snapLedger { return &snapLedger{} })
	require.NotNil(t, p)
	require.ErrorIs(t, p.(error), aggregate.ErrSnapshotState)
	require.Contains(t, fmt.Sprint(p), "snapLedgerState")
}

// patient embeds aggregate.Root and is its own snapshot state, with Avro:
// the Root adds nothing to the derived schema, so no duplicate state struct
// is needed.
type patient struct {
	aggregate.Root
	Name  string `avro:"name"`
	Ward  string `avro:"ward"`
	Moves int32  `avro:"moves"`
}

type admitted struct {
	Name string `avro:"name"`
	Ward string `avro:"ward"`
}

func (p *patient) Apply(ev any) {
	if e, ok := ev.(admitted); ok {
		p.Name, p.Ward = e.Name, e.Ward
		p.Moves++
	}
}

func TestAvroSnapshotOfAnAggregateEmbeddingRoot(t *testing.T) {
	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[admitted](reg, "clinic.Admitted")
	client, _ := avrotest.Registry(t)
	sd, err := avro.New(ctx, reg, client, "clinic-events")
	require.NoError(t, err)
	newPatient := func() *patient { return &patient{} }
	p := newRepoPanic(sd, newPatient)
	require.NotNil(t, p, "the state type is not registered yet")
	require.True(t, errors.Is(p.(error), aggregate.ErrSnapshotState), "%v", p)

	serde.MustRegister[patient](reg, "clinic.Patient")
	es, ss := newSnapEventStore(), snapmem.New()
	repo := aggregate.NewRepository(es, sd, newPatient, aggregate.WithSnapshots(ss, snapshot.EveryN(2)))
	for _, ward := range []string{"A", "B"} {
		_, err := repo.Update(ctx, "p-1", func(p *patient) error {
			aggregate.Raise(p, admitted{Name: "Pat", Ward: ward})
			return nil
		})
		require.NoError(t, err)
	}
	require.NoError(t, repo.FlushSnapshots(ctx))
	st := repo.SnapshotStats()
	require.EqualValues(t, 1, st.Taken)
	require.Zero(t, st.EncodeErrors)
	got, err := repo.Load(ctx, "p-1")
	require.NoError(t, err)
	require.EqualValues(t, 1, repo.SnapshotStats().Hits, "loaded from the snapshot")
	require.Equal(t, "B", got.Ward)
	require.EqualValues(t, 2, got.Moves)
	require.EqualValues(t, 2, got.AggregateVersion())
	require.Equal(t, "p-1", got.AggregateID())
}
