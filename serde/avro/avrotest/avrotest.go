// Package avrotest provides a Schema Registry for tests, examples and
// local development, and test helpers for schema compatibility.
//
// [StartEmbedded] runs franz-go's srfake, an in-process
// Confluent-compatible Schema Registry, on 127.0.0.1. [Registry] gives a
// test a registry client: the one at $KAFKAES_SCHEMA_REGISTRY if set,
// else an embedded one closed when the test ends. srfake does not check
// compatibility; the avro serde checks it locally before registering.
// scripts/schema-registry.sh runs a real, Confluent-compatible registry
// (Apicurio Registry) on 127.0.0.1 for the suites; its `env` command
// prints the KAFKAES_SCHEMA_REGISTRY line.
package avrotest

import (
	"os"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/kafkaes/kafkaes/serde/avro"
)

// EnvRegistry is the environment variable that points tests at a real
// Schema Registry: the base URL of its Confluent API, for example
// "http://127.0.0.1:8081" (Confluent) or
// "http://127.0.0.1:18081/apis/ccompat/v7" (Apicurio, as started by
// scripts/schema-registry.sh).
const EnvRegistry = "KAFKAES_SCHEMA_REGISTRY"

// StartEmbedded starts an in-process Schema Registry (srfake) on a random
// 127.0.0.1 port and returns its URL and a function that stops it. For
// examples and local development:
//
//	url, stop := avrotest.StartEmbedded()
//	defer stop()
//	s, err := avro.New(ctx, reg, avro.NewClient(url, 0), "bank-events")
func StartEmbedded() (url string, stop func()) {
	r := srfake.New()
	return r.URL(), r.Close
}

// Registry returns a Schema Registry client and its URL for a test: the
// registry at $KAFKAES_SCHEMA_REGISTRY if set, else an embedded srfake
// that is stopped when the test ends. Use unique topic names (for example
// the test's name) so subjects do not collide on a shared registry.
func Registry(t testing.TB) (srclient.ISchemaRegistryClient, string) {
	t.Helper()
	url := os.Getenv(EnvRegistry)
	if url == "" {
		var stop func()
		url, stop = StartEmbedded()
		t.Cleanup(stop)
	}
	return avro.NewClient(url, 10*time.Second), url
}

// Fake starts an embedded srfake registry for tests that need to inspect
// it or inject faults (srfake.Registry.Intercept), stopped when the test
// ends.
func Fake(t testing.TB) *srfake.Registry {
	t.Helper()
	r := srfake.New()
	t.Cleanup(r.Close)
	return r
}

// RequireCompatible fails the test if newSchema may not follow existing
// (oldest first) under level, printing the broken rule. Put it in a
// service's tests to stop an incompatible schema before it ships:
//
//	avrotest.RequireCompatible(t, avro.FullTransitive, newSchema, readFile(t, "testdata/v1.avsc"))
func RequireCompatible(t testing.TB, level avro.Compatibility, newSchema string, existing ...string) {
	t.Helper()
	if err := avro.CheckCompatibility(level, newSchema, existing...); err != nil {
		t.Fatalf("schema change is not allowed: %v", err)
	}
}

// SchemaOf returns the schema the avro serde derives for T registered as
// fullName, failing the test on error. Commit its output as an .avsc
// fixture and compare new versions against it with [RequireCompatible].
func SchemaOf[T any](t testing.TB, fullName string) string {
	t.Helper()
	s, err := avro.DeriveSchema(reflectType[T](), fullName)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
