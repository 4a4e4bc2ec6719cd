package avro_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// The compatibility level of a subject, set in the registry, decides which
// changes the serde registers (against the registry at
// $KAFKAES_SCHEMA_REGISTRY when set, which then checks them too).
func TestSubjectCompatibilityLevelFromRegistry(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := uniqueTopic(t, "level")
	const name = "bank.Refunded"
	subject := topic + "-" + name
	type V1 struct {
		Amount int64 `avro:"amount"`
	}
	type V2 struct { // a field without a default: FORWARD, not BACKWARD
		Amount int64  `avro:"amount"`
		Reason string `avro:"reason"`
	}
	type V3 struct { // drops amount, which v2 readers need: not FORWARD
		Reason string `avro:"reason"`
	}
	marshal := func(v any, register func(*serde.Registry)) error {
		reg := serde.NewRegistry()
		register(reg)
		s, err := avro.New(ctx, reg, client, topic)
		require.NoError(t, err)
		_, _, err = s.Marshal(ctx, v)
		return err
	}
	require.NoError(t, marshal(V1{Amount: 1}, func(r *serde.Registry) { serde.MustRegister[V1](r, name) }))
	lv, err := client.ChangeSubjectCompatibilityLevel(subject, srclient.Forward)
	require.NoError(t, err)
	require.Equal(t, srclient.Forward, *lv)

	require.NoError(t, marshal(V2{Amount: 2, Reason: "r"}, func(r *serde.Registry) { serde.MustRegister[V2](r, name) }),
		"the subject is FORWARD: a new field without a default is allowed")
	err = marshal(V3{Reason: "r"}, func(r *serde.Registry) { serde.MustRegister[V3](r, name) })
	require.ErrorIs(t, err, avro.ErrIncompatible)
	require.ErrorContains(t, err, "FORWARD")
	require.ErrorContains(t, err, subject)
}

// A registry that refuses to tell the compatibility level (here: not
// authorized) stops the registration; the serde does not assume a level.
func TestCompatibilityLevelRefused(t *testing.T) {
	ctx := context.Background()
	fake := avrotest.Fake(t)
	client := avro.NewClient(fake.URL(), time.Second)
	topic := uniqueTopic(t, "level-refused")
	const name = "bank.Refunded"
	type V1 struct {
		Amount int64 `avro:"amount"`
	}
	type V2 struct {
		Amount int64  `avro:"amount"`
		Reason string `avro:"reason,default=none"`
	}
	r1 := serde.NewRegistry()
	serde.MustRegister[V1](r1, name)
	s1, err := avro.New(ctx, r1, client, topic)
	require.NoError(t, err)
	_, _, err = s1.Marshal(ctx, V1{Amount: 1})
	require.NoError(t, err)

	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/config/") { // the subject's level; GET /config (New's probe) still answers
			return false
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error_code":40101,"message":"Unauthorized"}`))
		return true
	})
	r2 := serde.NewRegistry()
	serde.MustRegister[V2](r2, name)
	s2, err := avro.New(ctx, r2, client, topic)
	require.NoError(t, err)
	_, _, err = s2.Marshal(ctx, V2{Amount: 2, Reason: "r"})
	require.ErrorContains(t, err, "compatibility level of subject "+topic+"-"+name)
	require.ErrorContains(t, err, "Unauthorized")
}
