package process_test

import (
	"context"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/process"
)

// A process manager pays orders when payments arrive on their own
// streams: it loads the order named by the payment and records the
// payment on it. The order's new event and the manager's position are
// committed together (here in memory; with
// kafkaprojection.ProcessCommitter in one Kafka transaction).
func ExampleManager() {
	ctx := context.Background()
	store := memory.New()
	sd := orderSerde()
	orders := aggregate.NewRepository(store, sd, func() *Order { return &Order{} })
	if _, err := orders.Update(ctx, "order-1", func(o *Order) error {
		aggregate.Raise(o, OrderPlaced{Total: 30})
		return nil
	}); err != nil {
		panic(err)
	}

	m, err := process.New("payments", sd, process.NewMemoryCommitter(store), []process.Handler{
		process.On(func(ctx context.Context, tx *aggregate.Tx, ev PaymentReceived, meta projection.Meta) error {
			o, err := orders.LoadIn(tx, ev.Order)
			if err != nil {
				return err
			}
			return o.Pay(meta.StreamID, ev.Amount)
		}),
	})
	if err != nil {
		panic(err)
	}

	name, data, _ := sd.Marshal(ctx, PaymentReceived{Order: "order-1", Amount: 30})
	res, _ := store.Append(ctx, "payment-7", eventstore.NoStream, eventstore.Event{Type: name, Data: data})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx, projection.FromStore(store)) }()
	_ = m.WaitFor(ctx, res.Positions[0])
	stop()
	<-done

	o, _ := orders.Load(ctx, "order-1")
	fmt.Printf("order-1: paid %d of %d\n", o.Paid, o.Total)
	fmt.Println("processed:", m.Stats().Processed)
	// Output:
	// order-1: paid 30 of 30
	// processed: 3
}
