package erasure_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/erasure"
)

func TestNoticeNeedsRegistration(t *testing.T) {
	reg := serde.NewRegistry()
	_, err := erasure.New(pii.NewMemory(), memory.New(), serde.NewJSON(reg))
	require.ErrorContains(t, err, "pii.SubjectErasedName")
}

// A projection rebuilt from the start after an erasure shows the patient
// erased too: the events decode redacted, and the notice follows.
func TestRebuildAfterErasure(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "clinic.PatientAdmitted")
	serde.MustRegister[pii.SubjectErased](reg, pii.SubjectErasedName)
	sd := serde.NewJSON(reg)
	sd.Encryptor = pii.NewEncryptor(keys)
	store := memory.New()
	for _, id := range []string{"p-1", "p-2"} {
		name, data, err := sd.Marshal(ctx, PatientAdmitted{PatientID: id, Name: "Name of " + id, Ward: "A"})
		require.NoError(t, err)
		_, err = store.Append(ctx, "patient-"+id, eventstore.NoStream, eventstore.Event{Type: name, Data: data})
		require.NoError(t, err)
	}
	e, err := erasure.New(keys, store, sd, erasure.WithStream(func(s string) string { return "patient-" + s }))
	require.NoError(t, err)
	res, err := e.Erase(ctx, "p-1")
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Version, "the notice went to the patient's own stream")
	_, err = e.Erase(ctx, "p-1")
	require.NoError(t, err, "erasing again is harmless")

	view := &patients{m: map[string]string{}}
	r, err := projection.New("patients", sd, view.handlers(keys))
	require.NoError(t, err)
	require.NoError(t, r.CatchUp(ctx, projection.FromStore(store), nil))
	require.Equal(t, map[string]string{"p-1": "[erased]", "p-2": `Name of p-2, born "", ward A`}, view.m)
}
