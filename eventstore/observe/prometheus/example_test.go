package prometheus_test

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	kprom "github.com/kafkaes/kafkaes/eventstore/observe/prometheus"
)

// One collector per registry, given to every component; serve the
// registry with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).
func ExampleNewCollector() {
	ctx := context.Background()
	cluster, err := kafkatest.StartEmbedded() // an in-process Kafka for the example
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	client, err := sarama.NewClient(cluster.Brokers, cluster.Config())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	reg := prometheus.NewRegistry()
	col, err := kprom.NewCollector(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := kafka.New(ctx, client, "example-events", kafka.WithCreateTopic(1, 1), kafka.WithObserver(col))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	ev := eventstore.Event{Type: "shop.ItemAdded", Data: []byte(`{"sku":"apple"}`)}
	_, _ = store.Append(ctx, "cart-1", eventstore.NoStream, ev)
	_, _ = store.Append(ctx, "cart-1", eventstore.Exact(1), ev)
	_, err = store.Append(ctx, "cart-1", eventstore.Exact(1), ev) // stale: a conflict
	fmt.Println("third append:", err != nil)

	n, _ := testutil.GatherAndCount(reg, "kafkaes_appends_total")
	fmt.Println("append series:", n)
	// Output:
	// third append: true
	// append series: 2
}
