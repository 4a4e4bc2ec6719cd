package avro_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/internal/testenv"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// fastavroVersion is the fastavro release the cross-checks run against.
const fastavroVersion = "1.13.1"

// TestCrossCheckFastavro checks the serde against fastavro, an independent
// Avro implementation, in both directions: payloads written here are
// decoded (and schema-resolved) by fastavro, and records built and encoded
// by fastavro are decoded here. fastavro 1.13.1 is installed into a cache
// by the test (testenv.Python); the test skips, visibly, only when the
// machine has no python3 or cannot fetch it.
func TestCrossCheckFastavro(t *testing.T) {
	python := testenv.Python(t, "fastavro", fastavroVersion)
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "cross")

	s, _ := newSerde(t, topic)
	acctSchema, err := s.SchemaFor(evName)
	require.NoError(t, err)
	in := sample()
	_, acctPayload, err := s.Marshal(ctx, in)
	require.NoError(t, err)

	const depName = "bank.Deposited"
	reg1 := serde.NewRegistry()
	serde.MustRegister[DepositV1](reg1, depName)
	s1, err := avro.New(ctx, reg1, client, topic)
	require.NoError(t, err)
	_, depPayload, err := s1.Marshal(ctx, DepositV1{Account: "a-1", Amount: -250, Note: "n", Kind: "WIRE"})
	require.NoError(t, err)
	v1Schema, err := s1.SchemaFor(depName)
	require.NoError(t, err)
	v2Schema, err := avro.DeriveSchema(reflect.TypeFor[DepositV2](), depName)
	require.NoError(t, err)

	type vector struct {
		Name         string `json:"name"`
		WriterSchema string `json:"writer_schema"`
		ReaderSchema string `json:"reader_schema"`
		PayloadHex   string `json:"payload_hex"`
	}
	vectors := []vector{
		{"account", acctSchema, acctSchema, hex.EncodeToString(acctPayload)},
		{"deposit", v1Schema, v2Schema, hex.EncodeToString(depPayload)},
	}
	dir := t.TempDir()
	inFile, outFile := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	b, err := json.Marshal(vectors)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(inFile, b, 0o600))
	out, err := python("testdata/crosscheck.py", inFile, outFile).CombinedOutput()
	require.NoError(t, err, "fastavro failed: %s", out)

	var res struct {
		Decoded []struct {
			Name         string         `json:"name"`
			SchemaID     uint32         `json:"schema_id"`
			Value        map[string]any `json:"value"`
			ReencodedHex string         `json:"reencoded_hex"`
		} `json:"decoded"`
		PythonOrigin []struct {
			Name    string `json:"name"`
			BodyHex string `json:"body_hex"`
		} `json:"python_origin"`
	}
	b, err = os.ReadFile(outFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &res))
	require.Len(t, res.Decoded, 2)

	// Go → fastavro: the values fastavro sees.
	acct := res.Decoded[0]
	require.Equal(t, binary.BigEndian.Uint32(acctPayload[1:5]), acct.SchemaID)
	want := map[string]any{
		"id": "01020304-0506-0708-090a-0b0c0d0e0f10", "owner": "Bob", "balance": "-123.45",
		"cents": float64(1 << 40), "small": float64(-7), "currency": "USD",
		"opened_at": float64(in.OpenedAt.UnixMicro()), "micros": float64(in.Micros.UnixMicro()),
		"nick": "bob", "tags": []any{"a", "b"}, "limits": map[string]any{"daily": float64(500)},
		"address": map[string]any{"street": "Main St 1", "city": "Springfield"}, "previous": nil,
		"raw": "000102", "score": 3.25, "ratio": 0.5, "active": true, "meta": map[string]any{},
	}
	require.Equal(t, want, acct.Value)
	// Avro binary is deterministic: fastavro re-encodes the same bytes.
	require.Equal(t, hex.EncodeToString(acctPayload[5:]), acct.ReencodedHex)

	// Schema resolution agrees with fastavro's.
	dep := res.Decoded[1]
	require.Equal(t, map[string]any{"account": "a-1", "amount": float64(-250), "currency": "EUR", "Channel": nil, "kind": "WIRE"}, dep.Value)
	reg2 := serde.NewRegistry()
	serde.MustRegister[DepositV2](reg2, depName)
	s2, err := avro.New(ctx, reg2, client, topic, avro.WithCompatibility(avro.Backward))
	require.NoError(t, err)
	got, err := s2.Unmarshal(ctx, depName, depPayload)
	require.NoError(t, err)
	require.Equal(t, DepositV2{Account: "a-1", Amount: -250, Currency: "EUR", Kind: "WIRE"}, got)
	// fastavro's v2 encoding decodes here to the same value.
	_, v2Payload, err := s2.Marshal(ctx, got) // registers v2, gives its ID
	require.NoError(t, err)
	got2, err := s2.Unmarshal(ctx, depName, reframe(t, v2Payload, dep.ReencodedHex))
	require.NoError(t, err)
	require.Equal(t, got, got2)

	// fastavro → Go: a record built and encoded in Python.
	require.Len(t, res.PythonOrigin, 1)
	v, err := s.Unmarshal(ctx, evName, reframe(t, acctPayload, res.PythonOrigin[0].BodyHex))
	require.NoError(t, err)
	pyAcct := v.(AccountOpened)
	require.Equal(t, "-9876543.21", pyAcct.Balance.FloatString(2))
	pyAcct.Balance = nil
	require.Equal(t, AccountOpened{
		ID:       [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
		Owner:    "Pÿthon ✓",
		Cents:    -(1 << 53),
		Small:    -1 << 31,
		Currency: "GBP",
		OpenedAt: time.Date(2020, 2, 29, 23, 59, 59, 999_000_000, time.UTC),
		Micros:   time.Date(1969, 12, 31, 23, 59, 59, 1_000, time.UTC),
		Tags:     []string{"x", "x", "x"},
		Limits:   map[string]int32{"a": 1, "b": -1},
		Address:  Address{"", "Zürich"},
		Previous: &Address{"Old", "Bern"},
		Raw:      []byte{0, 0xff},
		Score:    -0.125,
		Ratio:    1.5,
		Meta:     map[string]string{"k": "v"},
	}, pyAcct)
}

// reframe puts body (hex) behind the 5-byte header of framed.
func reframe(t *testing.T, framed []byte, bodyHex string) []byte {
	t.Helper()
	body, err := hex.DecodeString(bodyHex)
	require.NoError(t, err)
	return append(append([]byte{}, framed[:5]...), body...)
}
