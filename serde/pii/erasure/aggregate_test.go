package erasure_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
	snapmemory "github.com/kafkaes/kafkaes/snapshot/memory"

	"github.com/kafkaes/kafkaes/snapshot"
)

// Patient is an aggregate whose state holds personal data too: its own
// snapshots are encrypted like its events.
type Patient struct {
	aggregate.Root
	pii.Redactable
	PatientID    string
	Name         string `pii:"PatientID"`
	NameRedacted bool
	Treatments   int
}

type PatientTreated struct{ Ward string }

func (p *Patient) Apply(ev any) {
	switch e := ev.(type) {
	case PatientAdmitted:
		p.PatientID, p.Name = e.PatientID, e.Name
		p.NameRedacted = pii.IsRedacted(e, "Name")
	case PatientTreated:
		p.Treatments++
	case pii.SubjectErased:
		p.Name, p.NameRedacted = "", true
	}
}

func TestAggregateSeesRedaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := pii.NewMemory()
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "clinic.PatientAdmitted")
	serde.MustRegister[PatientTreated](reg, "clinic.PatientTreated")
	serde.MustRegister[Patient](reg, "clinic.Patient")
	serde.MustRegister[pii.SubjectErased](reg, pii.SubjectErasedName)
	sd := serde.NewJSON(reg)
	sd.Encryptor = pii.NewEncryptor(keys)
	store := memory.New()
	snaps := snapmemory.New()
	newRepo := func(withSnaps bool) *aggregate.Repository[*Patient] {
		var opts []aggregate.Option
		if withSnaps {
			opts = append(opts, aggregate.WithSnapshots(snaps, snapshot.EveryN(2)))
		}
		return aggregate.NewRepository(store, sd, func() *Patient { return &Patient{} }, opts...)
	}
	repo := newRepo(true)
	for _, id := range []string{"p-1", "p-2"} {
		_, err := repo.Update(ctx, id, func(p *Patient) error {
			aggregate.Raise(p, PatientAdmitted{PatientID: id, Name: "Name of " + id})
			aggregate.Raise(p, PatientTreated{Ward: "A"})
			return nil
		})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		_, err := snaps.Load(ctx, "p-1")
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	snap, err := snaps.Load(ctx, "p-1")
	require.NoError(t, err)
	require.NotContains(t, string(snap.Data), "Name of p-1", "the snapshot state is encrypted too")

	require.NoError(t, keys.Erase(ctx, "p-1"))
	for _, withSnaps := range []bool{false, true} {
		r := newRepo(withSnaps)
		p, err := r.Load(ctx, "p-1")
		require.NoError(t, err, "snapshots %v", withSnaps)
		require.Equal(t, "", p.Name)
		require.Equal(t, 1, p.Treatments)
		if withSnaps {
			require.Equal(t, []string{"Name"}, pii.Redacted(p), "the snapshot state says it was redacted")
		} else {
			require.True(t, p.NameRedacted, "Apply saw the redacted event")
		}
		other, err := r.Load(ctx, "p-2")
		require.NoError(t, err)
		require.Equal(t, "Name of p-2", other.Name)
	}
}
