package kafka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/snapshot"
	snapkafka "github.com/kafkaes/kafkaes/snapshot/kafka"
)

// Open a snapshot store on a compacted topic (created here), save a
// snapshot and load it back.
func ExampleNew() {
	ctx := context.Background()
	cluster, err := kafkatest.StartEmbedded() // or your brokers
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()

	cfg := cluster.Config()
	cfg.Producer.Return.Successes = true // the store writes with a sync producer
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	client, err := sarama.NewClient(cluster.Brokers, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	store, err := snapkafka.New(ctx, client, "bank-snapshots", snapkafka.WithCreateTopic(3, 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	err = store.Save(ctx, snapshot.Snapshot{StreamID: "acc-1", Version: 100, Type: "bank.Account",
		Data: []byte(`{"Balance":4200}`), TakenAt: time.Now()})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := store.Load(ctx, "acc-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.StreamID, s.Version, s.Type, string(s.Data))
	// Output: acc-1 100 bank.Account {"Balance":4200}
}
