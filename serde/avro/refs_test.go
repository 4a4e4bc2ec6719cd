package avro_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

type Money struct {
	Cents    int64  `avro:"cents"`
	Currency string `avro:"currency"`
}

type Paid struct {
	Order string `avro:"order"`
	Total Money  `avro:"total"`
	Fee   *Money `avro:"fee"`
}

// A producer (for example a Java service) registered its schema with a
// reference to a shared bank.Money type in another subject; the serde
// reads such payloads by resolving the references itself.
//
// It runs against the registry at $KAFKAES_SCHEMA_REGISTRY when set.
func TestDecodeSchemaWithReferences(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "refs")
	data := writePaidWithReference(t, client, topic)

	reg := serde.NewRegistry()
	serde.MustRegister[Paid](reg, "bank.Paid")
	s, err := avro.New(ctx, reg, client, topic)
	require.NoError(t, err)
	v, err := s.Unmarshal(ctx, "bank.Paid", data)
	require.NoError(t, err)
	require.Equal(t, Paid{Order: "o-1", Total: Money{1999, "EUR"}, Fee: &Money{50, "EUR"}}, v)
}

// A referenced schema the registry cannot find is a clear error.
func TestDecodeSchemaWithMissingReference(t *testing.T) {
	ctx := context.Background()
	fake := avrotest.Fake(t)
	client := avro.NewClient(fake.URL(), 5*time.Second)
	topic := uniqueTopic(t, "refs-missing")
	data := writePaidWithReference(t, client, topic)
	reg := serde.NewRegistry()
	serde.MustRegister[Paid](reg, "bank.Paid")
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/versions/") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error_code":40402,"message":"Version not found"}`))
			return true
		}
		return false
	})
	s, err := avro.New(ctx, reg, client, topic, avro.WithRetry(1, 0))
	require.NoError(t, err)
	_, err = s.Unmarshal(ctx, "bank.Paid", data)
	require.ErrorContains(t, err, "referenced schema bank.Money")
	require.ErrorContains(t, err, "Version not found")
}

// writePaidWithReference registers bank.Money under its own subject and
// bank.Paid with a reference to it, as a producer with shared types does,
// and returns a framed bank.Paid payload that producer wrote.
func writePaidWithReference(t *testing.T, client srclient.ISchemaRegistryClient, topic string) []byte {
	t.Helper()
	const money = `{"type":"record","name":"bank.Money","fields":[{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	const paid = `{"type":"record","name":"bank.Paid","fields":[{"name":"order","type":"string"},{"name":"total","type":"bank.Money"},{"name":"fee","type":["null","bank.Money"],"default":null}]}`
	moneySubject := topic + "-bank.Money"
	_, err := client.CreateSchema(moneySubject, money, srclient.Avro)
	require.NoError(t, err)
	p, err := client.CreateSchema(topic+"-bank.Paid", paid, srclient.Avro, srclient.Reference{Name: "bank.Money", Subject: moneySubject, Version: 1})
	require.NoError(t, err)

	// The producer's bytes, written with goavro from the inlined schema.
	codec, err := goavro.NewCodec(`{"type":"record","name":"bank.Paid","fields":[{"name":"order","type":"string"},{"name":"total","type":` + money + `},{"name":"fee","type":["null","bank.Money"],"default":null}]}`)
	require.NoError(t, err)
	body, err := codec.BinaryFromNative(nil, map[string]any{
		"order": "o-1", "total": map[string]any{"cents": int64(1999), "currency": "EUR"},
		"fee": goavro.Union("bank.Money", map[string]any{"cents": int64(50), "currency": "EUR"}),
	})
	require.NoError(t, err)
	data := binary.BigEndian.AppendUint32([]byte{0}, uint32(p.ID()))
	return append(data, body...)
}
