package avro_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// rootLike stands for aggregate.Root: an embedded struct with unexported
// fields only, which adds nothing to the record.
type rootLike struct {
	id      string
	version int64
}

// Audit is embedded and flattened.
type Audit struct {
	CreatedBy string    `avro:"created_by"`
	CreatedAt time.Time `avro:"created_at"`
}

// tenant is an unexported embedded type whose exported fields are promoted
// (as encoding/json promotes them); its Ward is shadowed by Patient's own.
type tenant struct {
	Tenant string `avro:"tenant"`
	Ward   string `avro:"ward"`
}

// Bed is embedded with a name tag: a nested record, not flattened.
type Bed struct {
	Room int32 `avro:"room"`
}

type Patient struct {
	rootLike
	Audit
	tenant
	Bed  `avro:"bed"`
	Name string `avro:"name"`
	Ward string `avro:"ward"` // shallower than tenant.Ward: wins
	Skip `avro:"-"`
}

type Skip struct{ Ignored string }

func TestEmbeddedStructsAreFlattened(t *testing.T) {
	text, err := avro.DeriveSchema(reflect.TypeFor[Patient](), "clinic.Patient")
	require.NoError(t, err)
	require.JSONEq(t, `{"type":"record","name":"clinic.Patient","fields":[
		{"name":"created_by","type":"string"},
		{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"tenant","type":"string"},
		{"name":"bed","type":{"type":"record","name":"clinic.Bed","fields":[{"name":"room","type":"int"}]}},
		{"name":"name","type":"string"},
		{"name":"ward","type":"string"}]}`, text)

	ctx := context.Background()
	in := Patient{
		rootLike: rootLike{id: "not stored"},
		Audit:    Audit{CreatedBy: "nurse", CreatedAt: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)},
		tenant:   tenant{Tenant: "north", Ward: "shadowed, not stored"},
		Bed:      Bed{Room: 12},
		Name:     "Pat",
		Ward:     "B",
		Skip:     Skip{Ignored: "x"},
	}
	want := in
	want.rootLike, want.tenant.Ward, want.Skip = rootLike{}, "", Skip{}
	for name, opts := range map[string][]avro.Option{
		"compiled": nil,
		"goavro":   {avro.WithGoavroEncoding(), avro.WithGoavroDecoding()},
	} {
		t.Run(name, func(t *testing.T) {
			reg := serde.NewRegistry()
			serde.MustRegister[Patient](reg, "clinic.Patient")
			client, _ := avrotest.Registry(t)
			s, err := avro.New(ctx, reg, client, uniqueTopic(t, "embed"), opts...)
			require.NoError(t, err)
			ev, data, err := s.Marshal(ctx, in)
			require.NoError(t, err)
			out, err := s.Unmarshal(ctx, ev, data)
			require.NoError(t, err)
			require.Equal(t, want, out)
		})
	}
}

// PatientV1 is the flat first version of PatientV2, which moved the audit
// fields into an embedded struct and added a field with a default: data
// written by either decodes as the other (schema resolution goes through
// the embedded fields).
type PatientV1 struct {
	CreatedBy string `avro:"created_by"`
	Name      string `avro:"name"`
}

type AuditV2 struct {
	CreatedBy string `avro:"created_by"`
	Site      string `avro:"site,default=main"`
}

type PatientV2 struct {
	rootLike
	AuditV2
	Name string `avro:"name"`
}

func TestEmbeddedStructsResolveAcrossVersions(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "embedevo")
	const name = "clinic.Patient"
	reg1 := serde.NewRegistry()
	serde.MustRegister[PatientV1](reg1, name)
	s1, err := avro.New(ctx, reg1, client, topic)
	require.NoError(t, err)
	reg2 := serde.NewRegistry()
	serde.MustRegister[PatientV2](reg2, name)
	s2, err := avro.New(ctx, reg2, client, topic)
	require.NoError(t, err)

	_, old, err := s1.Marshal(ctx, PatientV1{CreatedBy: "nurse", Name: "Pat"})
	require.NoError(t, err)
	v, err := s2.Unmarshal(ctx, name, old)
	require.NoError(t, err)
	require.Equal(t, PatientV2{AuditV2: AuditV2{CreatedBy: "nurse", Site: "main"}, Name: "Pat"}, v)

	_, cur, err := s2.Marshal(ctx, PatientV2{rootLike: rootLike{id: "p-1", version: 3}, AuditV2: AuditV2{CreatedBy: "doc", Site: "east"}, Name: "Sam"})
	require.NoError(t, err)
	v, err = s1.Unmarshal(ctx, name, cur)
	require.NoError(t, err)
	require.Equal(t, PatientV1{CreatedBy: "doc", Name: "Sam"}, v)
}

type withPointer struct {
	*Audit
	Name string
}

type withEmptyPointer struct {
	*rootLike
	Name string
}

type clashA struct{ X string }
type clashB struct{ X string }
type clash struct {
	clashA
	clashB
}

type clashTagged struct {
	clashA
	clashB
	Y struct{} `avro:"-"`
}

type clashD struct {
	X string `avro:"X"`
}

type tagBreaksTie struct {
	clashA
	clashD
}

func TestEmbeddedStructErrors(t *testing.T) {
	_, err := avro.DeriveSchema(reflect.TypeFor[withPointer](), "a.P")
	require.ErrorContains(t, err, "embed the struct by value")

	_ = withEmptyPointer{rootLike: &rootLike{}} // (the field exists only to be skipped)
	text, err := avro.DeriveSchema(reflect.TypeFor[withEmptyPointer](), "a.E")
	require.NoError(t, err, "an embedded pointer to a struct without exported fields adds nothing")
	require.JSONEq(t, `{"type":"record","name":"a.E","fields":[{"name":"Name","type":"string"}]}`, text)

	_, err = avro.DeriveSchema(reflect.TypeFor[clash](), "a.C")
	require.ErrorContains(t, err, `clashA.X and clashB.X both map to Avro field "X"`)
	_, err = avro.DeriveSchema(reflect.TypeFor[clashTagged](), "a.C")
	require.ErrorContains(t, err, "both map")

	text, err = avro.DeriveSchema(reflect.TypeFor[tagBreaksTie](), "a.T")
	require.NoError(t, err, "at equal depth the tagged field wins, as in encoding/json")
	require.JSONEq(t, `{"type":"record","name":"a.T","fields":[{"name":"X","type":"string"}]}`, text)
}
