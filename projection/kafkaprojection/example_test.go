package kafkaprojection_test

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// A projection reads the events topic of the Kafka store through a
// consumer group; WaitFor waits for the position an append returned.
func ExampleNewSource() {
	ctx := context.Background()
	cluster, err := kafkatest.StartEmbedded() // or your brokers
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(cluster.Brokers, cfg)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	store, err := kafka.New(ctx, client, "bank-events", kafka.WithCreateTopic(3, 1))
	if err != nil {
		panic(err)
	}
	defer store.Close()

	sd := testSerde()
	var total atomic.Int64
	r, err := projection.New("total-deposits", sd, []projection.Handler{
		projection.On(func(_ context.Context, ev Deposited, _ projection.Meta) error {
			total.Add(ev.Amount)
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	src, err := kafkaprojection.NewSource(ctx, client, "bank-events", "total-deposits")
	if err != nil {
		panic(err)
	}
	defer src.Close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- r.Run(runCtx, src) }()

	var last eventstore.Position
	for _, amount := range []int64{10, 20, 12} {
		name, data, _ := sd.Marshal(ctx, Deposited{Amount: amount})
		res, err := store.Append(ctx, "acc-1", eventstore.Any, eventstore.Event{Type: name, Data: data})
		if err != nil {
			panic(err)
		}
		last = res.Positions[0]
	}
	if err := r.WaitFor(ctx, last); err != nil {
		panic(err)
	}
	fmt.Println("total deposits:", total.Load())
	cancel()
	<-done
	// Output:
	// total deposits: 42
}
