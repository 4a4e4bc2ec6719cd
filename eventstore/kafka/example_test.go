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
	store, err := kafka.New(ctx, client, "bank-events", kafka.WithCreateTopic(3, 1))
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

// appendWithRetry appends events, retrying while Kafka does not report the
// outcome of a commit. The event IDs must be set and stay the same across
// attempts: a retry of an append that did commit is then a no-op that
// returns the first attempt's result.
func appendWithRetry(ctx context.Context, store *kafka.Store, stream string, expected eventstore.ExpectedVersion, events ...eventstore.Event) (eventstore.AppendResult, error) {
	for i := range events {
		if events[i].ID == "" {
			events[i].ID = eventstore.NewEventID()
		}
	}
	for {
		res, err := store.Append(ctx, stream, expected, events...)
		if !errors.Is(err, kafka.ErrUnknownOutcome) {
			return res, err // nil, or an error after which nothing was written
		}
		select { // the broker may be away: back off
		case <-ctx.Done():
			return res, err
		case <-time.After(time.Second):
		}
	}
}

// ExampleErrUnknownOutcome shows how to handle an append whose commit
// outcome Kafka did not report: retry it with the same event IDs.
func ExampleErrUnknownOutcome() {
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
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := kafka.New(ctx, client, "orders", kafka.WithCreateTopic(3, 1))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	res, err := appendWithRetry(ctx, store, "order-7", eventstore.NoStream,
		eventstore.Event{Type: "shop.OrderPlaced", Data: []byte(`{"items":2}`)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("order-7 at version", res.Version)
	// Output:
	// order-7 at version 1
}
