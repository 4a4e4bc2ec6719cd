package prometheus_test

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	kprom "github.com/kafkaes/kafkaes/eventstore/observe/prometheus"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/snapshot"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
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

// The same observer goes to every component that reports: the Kafka store
// (appends, group commits, index catch-up), the Avro serde (encode/decode,
// registry calls, caches), the repository (loads, retries) and its
// snapshot writer, and the projection runner (handlers, failures, lag).
// This example is the wiring of the eventstore/observe package doc, kept
// compiling by go test.
func Example_wiring() {
	ctx := context.Background()
	brokers := []string{"127.0.0.1:9092"}
	client, err := sarama.NewClient(brokers, sarama.NewConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	col, err := kprom.NewCollector(prometheus.NewRegistry())
	if err != nil {
		fmt.Println(err)
		return
	}

	store, err := kafka.New(ctx, client, "shop-events", kafka.WithObserver(col))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	reg := serde.NewRegistry()
	serde.MustRegister[ItemAdded](reg, "shop.ItemAdded")
	serde.MustRegister[Cart](reg, "shop.Cart") // the snapshot state's type name
	sd, err := avro.New(ctx, reg, avro.NewClient("http://127.0.0.1:8081", 0), "shop-events", avro.WithObserver(col))
	if err != nil {
		fmt.Println(err)
		return
	}

	snaps, err := snapkafka.New(ctx, client, "shop-snapshots")
	if err != nil {
		fmt.Println(err)
		return
	}
	repo := aggregate.NewRepository(store, sd, func() *Cart { return &Cart{} },
		aggregate.WithObserver(col), // the snapshot writer reports to it too
		aggregate.WithSnapshots(snaps, snapshot.EveryN(100)))
	_ = repo

	runner, err := projection.New("cart-summary", sd, []projection.Handler{
		projection.On(func(ctx context.Context, ev ItemAdded, m projection.Meta) error { return nil }),
	}, projection.WithObserver(col))
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = runner.Run(ctx, projection.FromStore(store))
}
