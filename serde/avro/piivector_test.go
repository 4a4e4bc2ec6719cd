package avro_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// v1Body is the Avro body (after the 5-byte Confluent header) of
// PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Born:
// "1906-12-09", Photo: []byte("photo-bytes"), Ward: "C"}, written by the
// serde of commit dfe004a (one random nonce per field) under v1Key. Data
// already in Kafka looks like this: every later encoder must keep
// decoding it.
const v1Body = "06702d318c017069693a415245694d3052565a6e65494952583965554e416e5331325f397776756c655466565f684775426e4b646f6c4939704476396d4c646d45744d62646b79365655415186017069693a415245694d3052565a6e6549756a6c644b6a72745f423669426e5a6b654947517244614c4854704f705273744c565942465673713961535a775250456576556001112233445566778887bbeaaecf006511076d3d1db82ec465b2b4fd5692f01e43640b2f4a8865d075332cdb3a45939d0243"

func v1Keys(t *testing.T) *pii.Memory {
	t.Helper()
	secret, err := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	require.NoError(t, err)
	keys := pii.NewMemory()
	keys.Put("p-1", pii.Key{ID: 0x1122334455667788, Secret: secret})
	return keys
}

// TestPIIAvroDecodesV1Vector decodes a value written by an earlier
// version of the encoder, on every decode path.
func TestPIIAvroDecodesV1Vector(t *testing.T) {
	ctx := context.Background()
	body, err := hex.DecodeString(v1Body)
	require.NoError(t, err)
	want := PatientAdmittedV1{PatientID: "p-1", Name: "Grace Hopper", Born: "1906-12-09", Photo: []byte("photo-bytes"), Ward: "C"}
	for _, opts := range [][]avro.Option{nil, {avro.WithGoavroEncoding(), avro.WithGoavroDecoding()}} {
		keys := v1Keys(t)
		s := piiSerde[PatientAdmittedV1](t, keys, uniqueTopic(t, "piivec"), opts...)
		// Register the schema (the same one the vector was written with)
		// and take its framing.
		name, data, err := s.Marshal(ctx, PatientAdmittedV1{PatientID: "p-1", Ward: "C"})
		require.NoError(t, err)
		framed := append(data[:5:5], body...)

		v, err := s.Unmarshal(ctx, name, framed)
		require.NoError(t, err)
		require.Equal(t, want, v)

		// A generic decode sees the envelopes; the encryptor opens them
		// one by one, as `kafkaes stream` does.
		g, err := s.UnmarshalGeneric(ctx, name, framed)
		require.NoError(t, err)
		m := g.(map[string]any)
		enc := pii.NewEncryptor(keys)
		plain, redacted, err := enc.DecryptText(ctx, "p-1", "Name", m["name"].(string))
		require.NoError(t, err)
		require.False(t, redacted)
		require.Equal(t, "Grace Hopper", plain)
		photo, _, err := enc.DecryptBytes(ctx, "p-1", "Photo", m["photo"].([]byte))
		require.NoError(t, err)
		require.Equal(t, []byte("photo-bytes"), photo)

		require.NoError(t, keys.Erase(ctx, "p-1"))
		v, err = s.Unmarshal(ctx, name, framed)
		require.NoError(t, err)
		require.Equal(t, []string{"Name", "Born", "Photo"}, pii.Redacted(v))
	}
}

// PatientAdmittedLegacy is PatientAdmittedV1 before its fields were
// tagged: its events hold plaintext.
type PatientAdmittedLegacy struct {
	PatientID string `avro:"patientId"`
	Name      string `avro:"name"`
	Born      string `avro:"born"`
	Photo     []byte `avro:"photo"`
	Ward      string `avro:"ward"`
}

// TestPIIAvroPathsAgree: what the direct encoder writes the goavro
// decoding path reads, and the other way round; plaintext written before
// the fields were tagged is read as it is on both.
func TestPIIAvroPathsAgree(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "piipaths")
	direct := piiSerdeWith[PatientAdmittedV1](t, client, keys, topic)
	viaGoavro := piiSerdeWith[PatientAdmittedV1](t, client, keys, topic, avro.WithGoavroEncoding(), avro.WithGoavroDecoding())
	for _, in := range []PatientAdmittedV1{
		{PatientID: "p-1", Name: "Grace Hopper", Born: "1906-12-09", Photo: []byte("photo-bytes"), Ward: "C"},
		{PatientID: "p-1", Name: "Grace Hopper", Ward: "C"},
		{PatientID: "p-2", Ward: "D"},
	} {
		for _, w := range []*avro.Serde{direct, viaGoavro} {
			name, data, err := w.Marshal(ctx, in)
			require.NoError(t, err)
			for _, r := range []*avro.Serde{direct, viaGoavro} {
				out, err := r.Unmarshal(ctx, name, data)
				require.NoError(t, err)
				require.Equal(t, in, out)
			}
		}
	}

	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmittedLegacy](reg, admittedName)
	legacy, err := avro.New(ctx, reg, client, topic)
	require.NoError(t, err)
	name, data, err := legacy.Marshal(ctx, PatientAdmittedLegacy{PatientID: "p-3", Name: "Old Name", Photo: []byte("old"), Ward: "E"})
	require.NoError(t, err)
	for _, r := range []*avro.Serde{direct, viaGoavro} {
		out, err := r.Unmarshal(ctx, name, data)
		require.NoError(t, err)
		require.Equal(t, PatientAdmittedV1{PatientID: "p-3", Name: "Old Name", Photo: []byte("old"), Ward: "E"}, out)
	}
}

// TestPIIAvroConcurrent runs encrypted round trips from many goroutines
// (run with -race), on the direct and the goavro paths: the pooled
// buffers must never be shared between calls.
func TestPIIAvroConcurrent(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "piiconc")
	serdes := []*avro.Serde{
		piiSerdeWith[PatientAdmittedV1](t, client, keys, topic),
		piiSerdeWith[PatientAdmittedV1](t, client, keys, topic, avro.WithGoavroEncoding(), avro.WithGoavroDecoding()),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := serdes[g%2]
			for i := range 200 {
				id := fmt.Sprintf("p-%d-%d", g, i%5)
				in := PatientAdmittedV1{PatientID: id, Name: "name of " + id + strings.Repeat("x", i%40), Born: fmt.Sprint(i), Photo: []byte(id), Ward: "W"}
				name, data, err := s.Marshal(ctx, in)
				if err != nil {
					errs <- err
					return
				}
				out, err := s.Unmarshal(ctx, name, data)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(in, out) {
					errs <- fmt.Errorf("round trip of %+v gave %+v", in, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
