package avro_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// PatientAdmittedV1 has two personal-data strings and one bytes field.
type PatientAdmittedV1 struct {
	pii.Redactable
	PatientID string `avro:"patientId"`
	Name      string `avro:"name" pii:"PatientID"`
	Born      string `avro:"born" pii:"PatientID"`
	Photo     []byte `avro:"photo" pii:"PatientID"`
	Ward      string `avro:"ward"`
}

// PatientAdmittedV2 adds a personal-data field with a default.
type PatientAdmittedV2 struct {
	pii.Redactable
	PatientID string `avro:"patientId"`
	Name      string `avro:"name" pii:"PatientID"`
	Born      string `avro:"born" pii:"PatientID"`
	Photo     []byte `avro:"photo" pii:"PatientID"`
	Ward      string `avro:"ward"`
	Notes     string `avro:"notes,default=" pii:"PatientID"`
}

const admittedName = "care.PatientAdmitted"

func piiSerde[T any](t testing.TB, keys pii.KeyStore, topic string, opts ...avro.Option) *avro.Serde {
	t.Helper()
	client, _ := avrotest.Registry(t)
	return piiSerdeWith[T](t, client, keys, topic, opts...)
}

func piiSerdeWith[T any](t testing.TB, client srclient.ISchemaRegistryClient, keys pii.KeyStore, topic string, opts ...avro.Option) *avro.Serde {
	t.Helper()
	reg := serde.NewRegistry()
	serde.MustRegister[T](reg, admittedName)
	s, err := avro.New(context.Background(), reg, client, topic,
		append([]avro.Option{avro.WithEncryption(pii.NewEncryptor(keys)), avro.WithCompatibility(avro.FullTransitive)}, opts...)...)
	require.NoError(t, err)
	return s
}

func TestPIIAvroRoundTrip(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	client, _ := avrotest.Registry(t)
	for _, goavroPaths := range []bool{false, true} {
		var opts []avro.Option
		if goavroPaths {
			opts = []avro.Option{avro.WithGoavroEncoding(), avro.WithGoavroDecoding()}
		}
		s := piiSerdeWith[PatientAdmittedV1](t, client, keys, uniqueTopic(t, "pii"), opts...)
		in := PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Born: "1906-12-09", Photo: []byte("photo-bytes"), Ward: "C"}
		name, data, err := s.Marshal(ctx, in)
		require.NoError(t, err)
		for _, plain := range []string{"Grace Hopper", "1906-12-09", "photo-bytes"} {
			require.False(t, bytes.Contains(data, []byte(plain)), "plaintext %q in the Avro bytes", plain)
		}
		out, err := s.Unmarshal(ctx, name, data)
		require.NoError(t, err)
		require.Equal(t, in, out)

		// An independent reader (plain goavro with the registered schema)
		// sees ciphertext, and the schema marks the fields.
		schema, err := s.SchemaFor(admittedName)
		require.NoError(t, err)
		codec, err := goavro.NewCodec(schema)
		require.NoError(t, err)
		native, _, err := codec.NativeFromBinary(data[5:])
		require.NoError(t, err)
		m := native.(map[string]any)
		require.Equal(t, "p-1", m["patientId"])
		require.True(t, pii.IsEnvelope(m["name"].(string)), "name = %q", m["name"])
		require.True(t, pii.IsEnvelope(m["born"].(string)))
		require.True(t, pii.IsEnvelopeBytes(m["photo"].([]byte)))
		require.Equal(t, "C", m["ward"])

		var parsed struct {
			Fields []struct {
				Name string            `json:"name"`
				Type any               `json:"type"`
				PII  *avro.PIIProperty `json:"kafkaes.pii"`
			} `json:"fields"`
		}
		require.NoError(t, json.Unmarshal([]byte(schema), &parsed))
		props := map[string]*avro.PIIProperty{}
		for _, f := range parsed.Fields {
			props[f.Name] = f.PII
		}
		require.Equal(t, &avro.PIIProperty{Subject: "patientId", Label: "Name"}, props["name"])
		require.Equal(t, &avro.PIIProperty{Subject: "patientId", Label: "Photo"}, props["photo"])
		require.Nil(t, props["ward"])
		require.Nil(t, props["patientId"])
	}
}

func TestPIIAvroErasure(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	s := piiSerde[PatientAdmittedV1](t, keys, uniqueTopic(t, "pii"))
	_, d1, err := s.Marshal(ctx, PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Born: "1906-12-09", Ward: "C"})
	require.NoError(t, err)
	_, d2, err := s.Marshal(ctx, PatientAdmittedV1{PatientID: "p-2", Name: "Alan Turing", Ward: "D"})
	require.NoError(t, err)
	require.NoError(t, keys.Erase(ctx, "p-1"))
	v, err := s.Unmarshal(ctx, admittedName, d1)
	require.NoError(t, err)
	require.Equal(t, []string{"Name", "Born"}, pii.Redacted(v), "Photo was empty: nothing to redact")
	got := v.(PatientAdmittedV1)
	require.Equal(t, "", got.Name)
	require.Equal(t, "C", got.Ward)
	v, err = s.Unmarshal(ctx, admittedName, d2)
	require.NoError(t, err)
	require.Equal(t, "Alan Turing", v.(PatientAdmittedV1).Name)

	// Tampering is an Avro decode error matching pii.ErrDecrypt.
	i := bytes.Index(d2, []byte("pii:"))
	bad := bytes.Clone(d2)
	bad[i+40] ^= 0x01 // in the nonce or ciphertext (a changed key ID reads as erased)
	_, err = s.Unmarshal(ctx, admittedName, bad)
	require.ErrorIs(t, err, pii.ErrDecrypt)
	require.ErrorIs(t, err, serde.ErrMalformed)
	var de *avro.DecodeError
	require.ErrorAs(t, err, &de)
}

func TestPIIAvroEvolution(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "pii")
	s1 := piiSerdeWith[PatientAdmittedV1](t, client, keys, topic)
	s2 := piiSerdeWith[PatientAdmittedV2](t, client, keys, topic)

	_, old, err := s1.Marshal(ctx, PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Ward: "C"})
	require.NoError(t, err)
	_, neu, err := s2.Marshal(ctx, PatientAdmittedV2{PatientID: "p-1", Name: "Grace Hopper", Ward: "C", Notes: "allergic to penicillin"})
	require.NoError(t, err, "adding a pii field with a default is FULL_TRANSITIVE compatible")
	require.False(t, bytes.Contains(neu, []byte("penicillin")))

	v, err := s2.Unmarshal(ctx, admittedName, old)
	require.NoError(t, err)
	require.Equal(t, PatientAdmittedV2{PatientID: "p-1", Name: "Grace Hopper", Ward: "C"}, v, "old events: the new field takes its default, not redacted")
	v, err = s1.Unmarshal(ctx, admittedName, neu)
	require.NoError(t, err)
	require.Equal(t, PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Ward: "C"}, v, "old code reads new events")
	v, err = s2.Unmarshal(ctx, admittedName, neu)
	require.NoError(t, err)
	require.Equal(t, "allergic to penicillin", v.(PatientAdmittedV2).Notes)

	require.NoError(t, keys.Erase(ctx, "p-1"))
	v, err = s2.Unmarshal(ctx, admittedName, neu)
	require.NoError(t, err)
	require.Equal(t, []string{"Name", "Notes"}, pii.Redacted(v))
}

type timePII struct {
	pii.Redactable
	ID  string
	Dob int64 `pii:"ID"`
}

func TestPIIAvroRefusals(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmittedV1](reg, admittedName)
	_, err := avro.New(ctx, reg, client, "pii-no-enc")
	require.ErrorContains(t, err, "avro.WithEncryption")

	reg = serde.NewRegistry()
	serde.MustRegister[timePII](reg, "care.TimePII")
	_, err = avro.New(ctx, reg, client, "pii-bad", avro.WithEncryption(pii.NewEncryptor(pii.NewMemory())))
	require.ErrorContains(t, err, "only string and []byte")
}

// FuzzPIIUnmarshal decodes arbitrary bodies framed with the schema ID of
// an event with encrypted fields: the Avro decoder and then the envelope
// decoder see bytes from the wire. Errors are fine; panics and errors that
// are neither malformed data nor a decrypt failure are not.
func FuzzPIIUnmarshal(f *testing.F) {
	ctx := context.Background()
	keys := pii.NewMemory()
	s := piiSerde[PatientAdmittedV1](f, keys, uniqueTopic(f, "piifuzz"))
	_, good, err := s.Marshal(ctx, PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Born: "1906-12-09", Photo: []byte{1, 2, 3}, Ward: "C"})
	if err != nil {
		f.Fatal(err)
	}
	header := bytes.Clone(good[:5])
	f.Add(good[5:])
	f.Add(good[5 : len(good)-3])
	i := bytes.Index(good, []byte("pii:"))
	flipped := bytes.Clone(good[5:])
	flipped[i-5+20] ^= 0x20
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := s.Unmarshal(ctx, admittedName, append(bytes.Clone(header), body...))
		if err != nil && !errors.Is(err, serde.ErrMalformed) && !errors.Is(err, pii.ErrDecrypt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
