package avro_test

import (
	"context"
	"os"
	"testing"

	"github.com/riferrei/srclient"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// Version 1 of a move event: a nested named type used twice and a note.
type MovedV1 struct {
	From Address  `avro:"from"`
	Prev *Address `avro:"prev"`
	Note string   `avro:"note"`
}

// Version 2 drops the note: BACKWARD compatible (a v2 reader ignores it),
// but a v1 reader cannot read v2 data (note has no default).
type MovedV2 struct {
	From Address  `avro:"from"`
	Prev *Address `avro:"prev"`
}

const movedName = "bank.Moved"

// movedV1AsStored is version 1 as Apicurio, Karapace or Confluent's Java
// parser store it: names relative to the enclosing namespace, a
// "namespace" key, primitive types wrapped in objects. It means exactly
// what the serde derives for MovedV1, in another text.
const movedV1AsStored = `{"type":"record","name":"Moved","namespace":"bank","fields":[` +
	`{"name":"from","type":{"type":"record","name":"Address","fields":[{"name":"street","type":{"type":"string"}},{"name":"city","type":"string"}]}},` +
	`{"name":"prev","type":["null","Address"],"default":null},` +
	`{"name":"note","type":"string"}]}`

// During a rolling deploy an instance still running version 1 starts
// again after version 2 was registered. Its schema is already registered
// (as version 1), so the serde must write with it, not refuse it because
// v1 cannot read v2 data; registries store schemas in their own text
// form, so "already registered" must compare meaning, not text.
func TestOldVersionStillWritesAfterNewerVersionIsRegistered(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "rolling")
	subject := topic + "-" + movedName
	v1, err := client.CreateSchema(subject, movedV1AsStored, srclient.Avro)
	require.NoError(t, err)

	r2 := serde.NewRegistry()
	serde.MustRegister[MovedV2](r2, movedName)
	s2, err := avro.New(ctx, r2, client, topic)
	require.NoError(t, err)
	_, _, err = s2.Marshal(ctx, MovedV2{From: Address{"Main St", "X"}})
	require.NoError(t, err, "v2 is BACKWARD compatible with v1")

	r1 := serde.NewRegistry()
	serde.MustRegister[MovedV1](r1, movedName)
	s1, err := avro.New(ctx, r1, client, topic)
	require.NoError(t, err)
	want := MovedV1{From: Address{"Main St", "X"}, Prev: &Address{"Old Rd", "Y"}, Note: "n"}
	_, data, err := s1.Marshal(ctx, want)
	require.NoError(t, err, "v1 is already registered: writing with it must not be refused")
	id := int(data[1])<<24 | int(data[2])<<16 | int(data[3])<<8 | int(data[4])
	if stored, err := client.GetSchema(id); err == nil && stored.ID() != v1.ID() {
		// srfake keeps every distinct text as a version of its own; a real
		// registry finds the equivalent version 1 and answers its ID.
		require.Empty(t, os.Getenv(avrotest.EnvRegistry), "only srfake may register an equivalent text again")
	}
	got, err := s1.Unmarshal(ctx, movedName, data)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// A v2 reader still reads what the v1 instance wrote.
	got2, err := s2.Unmarshal(ctx, movedName, data)
	require.NoError(t, err)
	require.Equal(t, MovedV2{From: want.From, Prev: want.Prev}, got2)
}
