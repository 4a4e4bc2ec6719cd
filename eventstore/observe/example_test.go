package observe_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
)

type Cart struct {
	aggregate.Root
	Items int
}

type ItemAdded struct{ SKU string }

func (c *Cart) Apply(ev any) {
	if _, ok := ev.(ItemAdded); ok {
		c.Items++
	}
}

// loadPrinter is an observer: it implements only the hooks it cares about,
// here observe.LoadObserver and observe.RetryObserver.
type loadPrinter struct{ observe.Base }

func (loadPrinter) ObserveLoad(_ context.Context, l observe.Load) {
	fmt.Printf("load %s %s: %d events, snapshot %s, err=%v\n", l.Aggregate, l.Stream, l.Events, l.Snapshot, l.Err)
}

func (loadPrinter) ObserveRetry(_ context.Context, r observe.Retry) {
	fmt.Printf("retry %s attempt %d\n", r.Stream, r.Attempt)
}

// An observer embeds observe.Base and implements the report interfaces it
// wants (here LoadObserver); components call only those. Combine
// observers with Multi (here with the log observer, which logs only
// failures).
func Example() {
	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[ItemAdded](reg, "shop.ItemAdded")
	repo := aggregate.NewRepository(memory.New(), serde.NewJSON(reg), func() *Cart { return &Cart{} },
		aggregate.WithObserver(observe.Multi(loadPrinter{}, observe.Logger(slog.New(slog.DiscardHandler)))))

	for _, sku := range []string{"apple", "pear"} {
		if _, err := repo.Update(ctx, "cart-1", func(c *Cart) error {
			aggregate.Raise(c, ItemAdded{SKU: sku})
			return nil
		}); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// load observe_test.Cart cart-1: 0 events, snapshot none, err=<nil>
	// load observe_test.Cart cart-1: 1 events, snapshot none, err=<nil>
}
