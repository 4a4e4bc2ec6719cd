package main

import (
	"context"
	"testing"

	"github.com/kafkaes/kafkaes/internal/pgtest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/projectiontest"
	"github.com/kafkaes/kafkaes/serde"
)

// The order-summary projection tested on its own with projectiontest:
// given the events of two orders, run the handlers, then check the view.
// The same scenario runs against the in-memory view and the PostgreSQL
// view (its rows written in the checkpoint's transaction).
func testSummaryView(t *testing.T, v view, opts ...projection.Option) {
	ctx := context.Background()
	s := projectiontest.For(t, serde.NewJSON(newRegistry()), v.handlers(), opts...).
		Given("order-1", OrderPlaced{Customer: "ann"}, ItemAdded{SKU: "book", Quantity: 2, Price: 1500}).
		Given("order-2", OrderPlaced{Customer: "bob"}).
		Given("order-1", ItemAdded{SKU: "pen", Quantity: 1, Price: 499}, OrderPaid{Amount: 3499}).
		Run()
	s.Then(func(t testing.TB) {
		got, err := v.list(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		want := []Summary{
			{ID: "order-1", Customer: "ann", Items: 3, Total: 3499, Status: StatusPaid, Version: 4},
			{ID: "order-2", Customer: "bob", Status: StatusOpen, Version: 1},
		}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("view after the first step:\n got %v\nwant %v", got, want)
		}
	})

	// Later events reach the view; the earlier ones are not applied twice.
	s.Given("order-1", OrderShipped{Carrier: "DHL"}).
		Given("order-2", OrderCancelled{Reason: "changed mind"}).
		Run().
		Then(func(t testing.TB) {
			got, err := v.list(ctx)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(got) != 2 || got[0].Status != StatusShipped || got[0].Carrier != "DHL" || got[0].Items != 3 || got[0].Version != 5 ||
				got[1].Status != StatusCancelled || got[1].Version != 2 {
				t.Errorf("view after the second step: %v", got)
			}
		})
}

func TestSummaryViewInMemory(t *testing.T) {
	testSummaryView(t, newMemView())
}

func TestSummaryViewPostgres(t *testing.T) {
	db := pgtest.DB(t)
	v, err := newSQLView(context.Background(), db, pgtest.Table(t, db, "summary"))
	if err != nil {
		t.Fatal(err)
	}
	testSummaryView(t, v, projection.WithCheckpoints(v.checkpoints()))
}
