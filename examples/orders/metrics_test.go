package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMetrics runs the scenario with -metrics-addr and scrapes /metrics:
// appends, loads, projection handler runs and the rebuild's progress are
// there.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	env, err := setup(ctx, &out, config{topic: "orders-events", metricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.close()
	if err := scenario(ctx, &out, env); err != nil {
		t.Fatalf("scenario: %v\n%s", err, out.String())
	}
	page, err := env.metrics.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`kafkaes_appends_total{result="ok",topic="orders-events"} `,
		`kafkaes_loads_total{aggregate="main.Order",result="ok",snapshot="none"} `,
		`kafkaes_projection_events_handled_total{projection="order-summary",result="ok"} `,
		`kafkaes_projection_lag{partition="0",projection="order-summary"} `,
		`kafkaes_projection_rebuild_done{projection="order-summary-v2`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
