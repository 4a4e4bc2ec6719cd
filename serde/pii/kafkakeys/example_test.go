package kafkakeys_test

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

// Keys of data subjects in a compacted Kafka topic (here an embedded
// broker): the serde creates a subject's key with its first event;
// erasing it redacts the subject's fields in every instance.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kafkatest.StartEmbedded()
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	client, err := sarama.NewClient(cluster.Brokers, cfg)
	if err != nil {
		panic(err)
	}
	defer client.Close()

	keys, err := kafkakeys.New(ctx, client, kafkakeys.DefaultTopic("clinic-events")) // created compacted if missing
	if err != nil {
		panic(err)
	}
	defer keys.Close()

	type PatientAdmitted struct {
		pii.Redactable
		PatientID string
		Name      string `pii:"PatientID"`
	}
	reg := serde.NewRegistry()
	serde.MustRegister[PatientAdmitted](reg, "clinic.PatientAdmitted")
	sd := serde.NewJSON(reg)
	sd.Encryptor = pii.NewEncryptor(keys)

	name, data, err := sd.Marshal(ctx, PatientAdmitted{PatientID: "p-1", Name: "Ada Lovelace"})
	if err != nil {
		panic(err)
	}
	v, _ := sd.Unmarshal(ctx, name, data)
	fmt.Println("before:", v.(PatientAdmitted).Name)

	if err := keys.Erase(ctx, "p-1"); err != nil {
		panic(err)
	}
	v, err = sd.Unmarshal(ctx, name, data)
	fmt.Printf("after: %q redacted %v, error %v\n", v.(PatientAdmitted).Name, pii.Redacted(v), err)
	// Output:
	// before: Ada Lovelace
	// after: "" redacted [Name], error <nil>
}
