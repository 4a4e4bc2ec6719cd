package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// Example appends to a stream with an expected version, shows a conflict,
// and reads the stream back, on the embedded Kafka broker.
func Example() {
	cluster, err := kafkatest.StartEmbedded()
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(cluster.Brokers, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // the store never closes the caller's client

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := kafka.New(ctx, client, kafka.WithTopic("bank-events"), kafka.WithCreateTopic(3, 1))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	res, err := store.Append(ctx, "account-1", eventstore.NoStream,
		eventstore.Event{Type: "bank.AccountOpened", Data: []byte(`{"owner":"ada"}`)},
		eventstore.Event{Type: "bank.MoneyDeposited", Data: []byte(`{"amount":100}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version after the first append:", res.Version)

	// A writer that still believes the stream is new loses.
	_, err = store.Append(ctx, "account-1", eventstore.NoStream,
		eventstore.Event{Type: "bank.AccountOpened", Data: []byte(`{"owner":"bob"}`)})
	var conflict *eventstore.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: actual version", conflict.Actual)
	}

	for ev, err := range store.ReadStream(ctx, "account-1", 1) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Version, ev.Type, string(ev.Data))
	}
	// Output:
	// version after the first append: 2
	// conflict: actual version 2
	// 1 bank.AccountOpened {"owner":"ada"}
	// 2 bank.MoneyDeposited {"amount":100}
}
