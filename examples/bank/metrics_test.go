package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMetrics runs the scenario with -metrics-addr and scrapes /metrics:
// the appends, conflicts, loads (with snapshot hits), Avro encodes and
// registry calls of the scenario are there.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	env, err := setup(ctx, &out, config{topic: "bank-events", metricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.close()
	if err := scenario(ctx, &out, env); err != nil {
		t.Fatalf("scenario: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "metrics: "+env.metrics.URL) {
		t.Errorf("output does not show the metrics URL:\n%s", out.String())
	}
	page, err := env.metrics.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`kafkaes_appends_total{result="ok",topic="bank-events"} `,
		`kafkaes_appends_total{result="conflict",topic="bank-events"} `,
		`kafkaes_update_retries_total{aggregate="account.Account"} 1`,
		`kafkaes_loads_total{aggregate="account.Account",result="ok",snapshot="hit"} `,
		`kafkaes_serde_operations_total{op="encode",result="ok",serde="avro"} `,
		`kafkaes_schema_registry_requests_total{op="register",result="ok"} `,
		`kafkaes_group_commit_batches_total{result="committed",topic="bank-events"} `,
		`kafkaes_index_offset{partition="0",topic="bank-events"} `,
		`kafkaes_append_duration_seconds_bucket{result="ok",topic="bank-events",le="+Inf"} `,
		"go_goroutines ",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if regexp.MustCompile(`stream="`).MatchString(page) {
		t.Error("/metrics has a per-stream label")
	}
}
