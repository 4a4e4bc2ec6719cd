package avro_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

type Currency string

func (Currency) AvroSymbols() []string { return []string{"EUR", "USD", "GBP"} }

type Address struct {
	Street string `avro:"street"`
	City   string `avro:"city"`
}

type AccountOpened struct {
	ID       [16]byte          `avro:"id"`
	Owner    string            `avro:"owner"`
	Balance  *big.Rat          `avro:"balance,precision=18,scale=2"`
	Cents    int64             `avro:"cents"`
	Small    int32             `avro:"small"`
	Currency Currency          `avro:"currency"`
	OpenedAt time.Time         `avro:"opened_at"`
	Micros   time.Time         `avro:"micros,micros"`
	Nick     *string           `avro:"nick"`
	Tags     []string          `avro:"tags"`
	Limits   map[string]int32  `avro:"limits"`
	Address  Address           `avro:"address"`
	Previous *Address          `avro:"previous"`
	Raw      []byte            `avro:"raw"`
	Score    float64           `avro:"score"`
	Ratio    float32           `avro:"ratio"`
	Active   bool              `avro:"active"`
	Meta     map[string]string `avro:"meta"`
	//lint:ignore U1000 an unexported field, which the serde must leave alone
	internal int
}

const evName = "bank.AccountOpened"

func sample() AccountOpened {
	nick := "bob"
	return AccountOpened{
		ID:       [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Owner:    "Bob",
		Balance:  big.NewRat(-12345, 100),
		Cents:    1 << 40,
		Small:    -7,
		Currency: "USD",
		OpenedAt: time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
		Micros:   time.Date(2026, 1, 2, 3, 4, 5, 6_007_000, time.UTC),
		Nick:     &nick,
		Tags:     []string{"a", "b"},
		Limits:   map[string]int32{"daily": 500},
		Address:  Address{"Main St 1", "Springfield"},
		Raw:      []byte{0, 1, 2},
		Score:    3.25,
		Ratio:    0.5,
		Active:   true,
		Meta:     map[string]string{},
	}
}

// uniqueTopic returns a topic name unique to this test run, so subjects do
// not collide when KAFKAES_SCHEMA_REGISTRY points at a shared registry.
func uniqueTopic(t testing.TB, prefix string) string {
	return fmt.Sprintf("%s-%s-%x", prefix, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), rand.Uint32())
}

func newSerde(t *testing.T, topic string, opts ...avro.Option) (*avro.Serde, *serde.Registry) {
	t.Helper()
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	client, _ := avrotest.Registry(t)
	s, err := avro.New(t.Context(), reg, client, topic, opts...)
	require.NoError(t, err)
	return s, reg
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := newSerde(t, uniqueTopic(t, "rt"))
	in := sample()
	name, data, err := s.Marshal(ctx, &in)
	require.NoError(t, err)
	require.Equal(t, evName, name)
	require.Equal(t, byte(0), data[0], "magic byte")

	out, err := s.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	got := out.(AccountOpened)
	require.Zero(t, got.Balance.Cmp(in.Balance), "balance %s", got.Balance.FloatString(2))
	got.Balance, in.Balance = nil, nil
	require.Equal(t, in, got)

	// Zero values and nil pointers round-trip too.
	var zero AccountOpened
	zero.Balance = new(big.Rat)
	zero.Currency = "EUR"
	_, data, err = s.Marshal(ctx, zero)
	require.NoError(t, err)
	out, err = s.Unmarshal(ctx, name, data)
	require.NoError(t, err)
	z := out.(AccountOpened)
	require.Nil(t, z.Nick)
	require.Nil(t, z.Previous)
	require.True(t, z.OpenedAt.Equal(zero.OpenedAt), "zero time round-trips: %v", z.OpenedAt)
	require.Empty(t, z.Raw)
}

func TestDerivedSchemaAndSubjects(t *testing.T) {
	ctx := context.Background()
	topic := uniqueTopic(t, "subj")
	for _, tc := range []struct {
		strategy avro.SubjectStrategy
		subject  string
	}{
		{avro.TopicRecordName, topic + "-" + evName},
		{avro.TopicName, topic + "-value"},
		{avro.RecordName, evName},
	} {
		reg := serde.NewRegistry()
		serde.MustRegister[AccountOpened](reg, evName)
		client, _ := avrotest.Registry(t)
		s, err := avro.New(ctx, reg, client, topic, avro.WithSubjectStrategy(tc.strategy))
		require.NoError(t, err)
		require.Equal(t, tc.subject, s.Subject(evName))
		_, data, err := s.Marshal(ctx, sample())
		require.NoError(t, err)
		latest, err := client.GetLatestSchema(tc.subject)
		require.NoError(t, err)
		id := int(data[1])<<24 | int(data[2])<<16 | int(data[3])<<8 | int(data[4])
		require.Equal(t, latest.ID(), id, "frame carries the registered schema ID")
		require.Contains(t, latest.Schema(), `"logicalType":"timestamp-millis"`)
		require.Contains(t, latest.Schema(), `"logicalType":"uuid"`)
		require.Contains(t, latest.Schema(), `"logicalType":"decimal"`)
		// A registry may store the schema in another text form: Apicurio
		// (and Confluent's Java parser) write names relative to the
		// enclosing namespace, ["null","Address"] for ["null","bank.Address"].
		// The Parsing Canonical Form uses full names, so the registered
		// schema must mean exactly what the serde derived.
		derived, err := avro.DeriveSchema(reflect.TypeFor[AccountOpened](), evName)
		require.NoError(t, err)
		require.Contains(t, derived, `["null","bank.Address"]`)
		require.Equal(t, canonical(t, derived), canonical(t, latest.Schema()))
		require.Contains(t, canonical(t, latest.Schema()), `["null","bank.Address"]`)
	}
}

// canonical returns the Parsing Canonical Form of an Avro schema.
func canonical(t *testing.T, schema string) string {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	require.NoError(t, err)
	return c.CanonicalSchema()
}

func TestFramingErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newSerde(t, uniqueTopic(t, "frame"))
	for _, data := range [][]byte{nil, {0, 0, 0}, []byte(`{"a":1}`), {1, 0, 0, 0, 1, 2}} {
		_, err := s.Unmarshal(ctx, evName, data)
		require.ErrorIs(t, err, avro.ErrNotFramed)
		require.ErrorIs(t, err, serde.ErrMalformed)
	}
	_, err := s.Unmarshal(ctx, evName, []byte(`{"owner":"x"}`))
	require.ErrorContains(t, err, "looks like JSON")

	_, err = s.Unmarshal(ctx, evName, []byte{0, 0x7f, 0, 0, 1, 2})
	require.ErrorIs(t, err, avro.ErrUnknownSchemaID)
	require.NotErrorIs(t, err, serde.ErrMalformed, "an unknown ID is a configuration problem, not a poison record")

	// A body that does not match its schema.
	_, data, err := s.Marshal(ctx, sample())
	require.NoError(t, err)
	_, err = s.Unmarshal(ctx, evName, data[:len(data)-3])
	require.ErrorIs(t, err, serde.ErrMalformed)
	var de *avro.DecodeError
	require.ErrorAs(t, err, &de)
	require.NotZero(t, de.SchemaID)
	err = avro.WithRecordPosition(err, 3, 1234)
	require.ErrorContains(t, err, "partition 3 offset 1234")
	require.ErrorContains(t, err, "schema ID")

	_, err = s.Unmarshal(ctx, evName, append(append([]byte{}, data...), 0))
	require.ErrorIs(t, err, serde.ErrMalformed)
}

func TestEncodeErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newSerde(t, uniqueTopic(t, "enc"))
	ev := sample()
	ev.Balance = big.NewRat(1, 3)
	_, _, err := s.Marshal(ctx, ev)
	require.ErrorContains(t, err, "fraction digits")

	ev = sample()
	ev.Currency = "XXX"
	_, _, err = s.Marshal(ctx, ev)
	require.ErrorContains(t, err, `"XXX" is not a symbol of enum bank.Currency`)

	_, _, err = s.Marshal(ctx, struct{ A int }{})
	require.ErrorIs(t, err, serde.ErrUnknownType)
}

func TestRegistryUnreachable(t *testing.T) {
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	url, stop := avrotest.StartEmbedded()
	s, err := avro.New(t.Context(), reg, avro.NewClient(url, time.Second), "down", avro.WithRetry(3, time.Millisecond))
	require.NoError(t, err)
	stop()
	_, _, err = s.Marshal(context.Background(), sample())
	require.ErrorIs(t, err, avro.ErrRegistryUnavailable)
	require.ErrorContains(t, err, "3 times")

	// A serde made while the registry is away says so at New.
	_, err = avro.New(t.Context(), reg, avro.NewClient(url, time.Second), "down", avro.WithRetry(3, time.Millisecond))
	require.ErrorIs(t, err, avro.ErrRegistryUnavailable)
	require.ErrorContains(t, err, "3 times")
	require.ErrorContains(t, err, "check that the registry URL is right")
}

// A URL that reaches a web server but not the registry's API (Apicurio
// without /apis/ccompat/v7) is a configuration error: said at once, not
// retried, and not reported as an unavailable registry.
func TestRegistryURLWithoutAPIPath(t *testing.T) {
	fake := avrotest.Fake(t)
	var calls atomic.Int32
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"title":"Could not find resource for full path","status":404}`))
		return true
	})
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	_, err := avro.New(t.Context(), reg, avro.NewClient(fake.URL(), time.Second), "nopath", avro.WithRetry(4, time.Millisecond))
	require.ErrorContains(t, err, "did not answer as a Schema Registry")
	require.ErrorContains(t, err, "/apis/ccompat/v7")
	require.NotErrorIs(t, err, avro.ErrRegistryUnavailable)
	require.Equal(t, int32(1), calls.Load(), "not retried")
}

func TestRegistryContextAndRetries(t *testing.T) {
	fake := avrotest.Fake(t)
	var calls, fail atomic.Int32
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		calls.Add(1)
		if fail.Load() > 0 {
			fail.Add(-1)
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	s, err := avro.New(t.Context(), reg, avro.NewClient(fake.URL(), 5*time.Second), "retry", avro.WithRetry(4, time.Millisecond))
	require.NoError(t, err)

	// Two transient failures are retried away.
	fail.Store(2)
	_, _, err = s.Marshal(context.Background(), sample())
	require.NoError(t, err)
	require.Zero(t, fail.Load())

	// A registry that does not answer: the context deadline wins.
	fake.ClearInterceptors()
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool { <-block; return false })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Unmarshal(ctx, evName, []byte{0, 0, 0, 0x10, 0x01, 2})
	require.ErrorIs(t, err, avro.ErrRegistryUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestUseRegisteredOnly(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	topic := uniqueTopic(t, "ro")
	prod, err := avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseRegisteredOnly))
	require.NoError(t, err)
	_, _, err = prod.Marshal(ctx, sample())
	require.ErrorIs(t, err, avro.ErrSchemaNotRegistered)
	require.ErrorContains(t, err, topic+"-"+evName)

	dev, err := avro.New(ctx, reg, client, topic)
	require.NoError(t, err)
	_, d1, err := dev.Marshal(ctx, sample())
	require.NoError(t, err)

	_, d2, err := prod.Marshal(ctx, sample())
	require.NoError(t, err)
	require.Equal(t, d1[:5], d2[:5], "same schema ID")
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s, _ := newSerde(t, uniqueTopic(t, "conc"))
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 20; j++ {
				name, data, err := s.Marshal(ctx, sample())
				if err == nil {
					_, err = s.Unmarshal(ctx, name, data)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		require.NoError(t, <-errs)
	}
}

func TestNilAndBadNames(t *testing.T) {
	var nilEv *AccountOpened
	s, _ := newSerde(t, uniqueTopic(t, "nil"))
	_, _, err := s.Marshal(context.Background(), nilEv)
	require.Error(t, err)

	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, "bank.account-opened")
	client, _ := avrotest.Registry(t)
	_, err = avro.New(t.Context(), reg, client, "x") // said at New, before any registry call
	require.ErrorContains(t, err, "not a valid Avro full name")
	require.ErrorContains(t, err, "bank.account-opened")
	require.False(t, errors.Is(err, avro.ErrRegistryUnavailable))
}

func TestGoavroEncodingWritesTheSameBytes(t *testing.T) {
	ctx := context.Background()
	topic := uniqueTopic(t, "same")
	direct, _ := newSerde(t, topic)
	viaGoavro, _ := newSerde(t, topic, avro.WithGoavroEncoding())
	ev := sample()
	_, a, err := direct.Marshal(ctx, ev)
	require.NoError(t, err)
	_, b, err := viaGoavro.Marshal(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestNonAvroSchemaID(t *testing.T) {
	fake := avrotest.Fake(t)
	client := avro.NewClient(fake.URL(), 5*time.Second)
	js, err := client.CreateSchema(uniqueTopic(t, "json")+"-value", `{"type":"object"}`, srclient.Json)
	require.NoError(t, err)
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	s, err := avro.New(t.Context(), reg, client, "x")
	require.NoError(t, err)
	data := []byte{0, byte(js.ID() >> 24), byte(js.ID() >> 16), byte(js.ID() >> 8), byte(js.ID()), 0}
	_, err = s.Unmarshal(context.Background(), evName, data)
	require.ErrorContains(t, err, "is not an Avro schema")
}

func TestPrepareFailsFastOnMissingSchemas(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "prep")
	reg := serde.NewRegistry()
	serde.MustRegister[AccountOpened](reg, evName)
	serde.MustRegister[DepositV1](reg, "bank.Deposited")
	prod, err := avro.New(ctx, reg, client, topic, avro.WithMode(avro.UseRegisteredOnly))
	require.NoError(t, err)
	err = prod.Prepare(ctx)
	require.ErrorIs(t, err, avro.ErrSchemaNotRegistered)
	require.ErrorContains(t, err, topic+"-"+evName)
	require.ErrorContains(t, err, topic+"-bank.Deposited")

	dev, err := avro.New(ctx, reg, client, topic)
	require.NoError(t, err)
	require.NoError(t, dev.Prepare(ctx), "AutoRegister registers every type")
	require.NoError(t, prod.Prepare(ctx))
}
