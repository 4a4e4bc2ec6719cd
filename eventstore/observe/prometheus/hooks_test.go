package prometheus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kafkaes/kafkaes/eventstore/observe"
	kprom "github.com/kafkaes/kafkaes/eventstore/observe/prometheus"
)

// TestSerdeAndProjectionMetrics feeds known serde, registry, cache and
// projection reports (as avro.WithObserver and projection.WithObserver
// send them) and checks the resulting series.
func TestSerdeAndProjectionMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	col, err := kprom.NewCollector(reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	boom := errors.New("boom")
	col.ObserveSerde(ctx, observe.Serde{Serde: "avro", Op: observe.Encode, Type: "bank.Opened", Duration: time.Millisecond})
	col.ObserveSerde(ctx, observe.Serde{Serde: "avro", Op: observe.Decode, Type: "bank.Opened", Err: boom})
	col.ObserveRegistry(ctx, observe.RegistryCall{Op: "register", Subject: "t-bank.Opened"})
	col.ObserveRegistry(ctx, observe.RegistryCall{Op: "schema_by_id", Err: boom})
	col.ObserveRegistry(ctx, observe.RegistryCall{Op: "versions", Err: boom, NotFound: true})
	col.ObserveCache(ctx, observe.CacheLookup{Cache: "schema_by_id", Hit: true})
	col.ObserveCache(ctx, observe.CacheLookup{Cache: "schema_by_id", Hit: true})
	col.ObserveCache(ctx, observe.CacheLookup{Cache: "schema_by_id"})
	col.ObserveHandled(ctx, observe.Handled{Projection: "summary", Stream: "s-1", Duration: time.Millisecond})
	col.ObserveHandled(ctx, observe.Handled{Projection: "summary", Err: boom})
	col.ObserveFailure(ctx, observe.Failure{Projection: "summary", Action: "dead_letter"})
	col.ObserveLag(ctx, observe.Lag{Projection: "summary", Partition: 0, Lag: 7})
	col.ObserveLag(ctx, observe.Lag{Projection: "summary", Partition: 0, Lag: 3})
	col.ObserveRebuild(ctx, observe.Rebuild{Projection: "summary-v2", Done: 50, Total: 200})
	want := `
# HELP kafkaes_projection_events_handled_total Handler runs of projections (retries included), by result (ok, error).
# TYPE kafkaes_projection_events_handled_total counter
kafkaes_projection_events_handled_total{projection="summary",result="error"} 1
kafkaes_projection_events_handled_total{projection="summary",result="ok"} 1
# HELP kafkaes_projection_failed_events_total Events a projection gave up on, by action (skip, dead_letter).
# TYPE kafkaes_projection_failed_events_total counter
kafkaes_projection_failed_events_total{action="dead_letter",projection="summary"} 1
# HELP kafkaes_projection_lag Offsets a projection is behind the end of the partition, as of the latest Runner.Lag.
# TYPE kafkaes_projection_lag gauge
kafkaes_projection_lag{partition="0",projection="summary"} 3
# HELP kafkaes_projection_rebuild_done Events processed by the running (or latest) catch-up or rebuild.
# TYPE kafkaes_projection_rebuild_done gauge
kafkaes_projection_rebuild_done{projection="summary-v2"} 50
# HELP kafkaes_schema_registry_requests_total Schema Registry calls (retries included), by operation and result (ok, not_found, error).
# TYPE kafkaes_schema_registry_requests_total counter
kafkaes_schema_registry_requests_total{op="register",result="ok"} 1
kafkaes_schema_registry_requests_total{op="schema_by_id",result="error"} 1
kafkaes_schema_registry_requests_total{op="versions",result="not_found"} 1
# HELP kafkaes_serde_cache_lookups_total Serde cache look-ups, by cache and result (hit, miss).
# TYPE kafkaes_serde_cache_lookups_total counter
kafkaes_serde_cache_lookups_total{cache="schema_by_id",result="hit"} 2
kafkaes_serde_cache_lookups_total{cache="schema_by_id",result="miss"} 1
# HELP kafkaes_serde_errors_total Serde encode and decode errors, by event type.
# TYPE kafkaes_serde_errors_total counter
kafkaes_serde_errors_total{op="decode",serde="avro",type="bank.Opened"} 1
# HELP kafkaes_serde_operations_total Serde encodes and decodes, by result (ok, error).
# TYPE kafkaes_serde_operations_total counter
kafkaes_serde_operations_total{op="decode",result="error",serde="avro"} 1
kafkaes_serde_operations_total{op="encode",result="ok",serde="avro"} 1
`
	names := []string{"kafkaes_projection_events_handled_total", "kafkaes_projection_failed_events_total", "kafkaes_projection_lag",
		"kafkaes_projection_rebuild_done", "kafkaes_schema_registry_requests_total", "kafkaes_serde_cache_lookups_total",
		"kafkaes_serde_errors_total", "kafkaes_serde_operations_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// No series carries a stream label.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stream" || l.GetName() == "subject" {
					t.Errorf("%s has an unbounded label %s", mf.GetName(), l.GetName())
				}
			}
		}
	}
}

func TestNewCollectorNilRegisterer(t *testing.T) {
	if _, err := kprom.NewCollector(nil); err == nil {
		t.Fatal("NewCollector(nil) succeeded")
	}
}
