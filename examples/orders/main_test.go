package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/internal/pgtest"
)

func TestScenarioInMemory(t *testing.T) {
	testScenario(t, config{topic: "orders-events"})
}

func TestScenarioPostgres(t *testing.T) {
	testScenario(t, config{topic: "orders-events", postgres: pgtest.DSN(t)})
}

func testScenario(t *testing.T, cfg config) {
	if b := os.Getenv("KAFKAES_BROKERS"); b != "" {
		cfg.brokers = b
		cfg.topic += "-" + strings.ReplaceAll(t.Name(), "/", "_") + "-" + time.Now().Format("150405.000000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, cfg); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"ann pays 64.99                   view: order-1",
		"3 items    64.99  shipped via DHL (v5)",
		"3 items    24.00  cancelled (v3)",
		"5 items    14.95  open (v2)",
		"rejected: pay 1000: payment does not match the total (6499)",
		"projection lag per partition: map[0:0 1:0 2:0]",
		"rebuild done: 20/20 offsets",
		"the rebuilt view equals the served one",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestOrderRules(t *testing.T) {
	o := &Order{}
	aggregate.Init(o, "o")
	if err := o.AddItem("x", 1, 1); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("add to a new order: %v", err)
	}
	if err := o.Place("ann"); err != nil {
		t.Fatal(err)
	}
	if err := o.Place("ann"); !errors.Is(err, ErrAlreadyPlaced) {
		t.Fatalf("place twice: %v", err)
	}
	if err := o.Pay(0); !errors.Is(err, ErrEmpty) {
		t.Fatalf("pay empty: %v", err)
	}
	if err := o.AddItem("x", 0, 5); !errors.Is(err, ErrBadItem) {
		t.Fatalf("zero quantity: %v", err)
	}
	if err := o.AddItem("x", 2, 5); err != nil {
		t.Fatal(err)
	}
	if err := o.Ship("DHL"); !errors.Is(err, ErrNotPaid) {
		t.Fatalf("ship unpaid: %v", err)
	}
	if err := o.Pay(10); err != nil {
		t.Fatal(err)
	}
	if err := o.Ship("DHL"); err != nil {
		t.Fatal(err)
	}
	if err := o.Cancel("late"); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("cancel shipped: %v", err)
	}
	if len(o.Changes()) != 4 || o.Status != StatusShipped || o.Total != 10 {
		t.Fatalf("unexpected state %+v", o)
	}
}
