package avro_test

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

type ExampleOpened struct {
	Owner   string    `avro:"owner"`
	Balance *big.Rat  `avro:"balance"` // decimal(18,2)
	At      time.Time `avro:"at"`      // timestamp-millis
	Email   *string   `avro:"email"`   // ["null","string"], default null
}

// An Avro serde on an embedded Schema Registry: events are registered
// under their Avro full name and framed the Confluent way.
func Example() {
	url, stop := avrotest.StartEmbedded()
	defer stop()

	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[ExampleOpened](reg, "bank.AccountOpened")
	s, err := avro.New(ctx, reg, avro.NewClient(url, 5*time.Second), "bank-events")
	if err != nil {
		panic(err)
	}
	name, data, err := s.Marshal(ctx, ExampleOpened{Owner: "Ann", Balance: big.NewRat(1050, 100), At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	fmt.Println(name, "magic", data[0], "subject", s.Subject(name))

	v, err := s.Unmarshal(ctx, name, data)
	if err != nil {
		panic(err)
	}
	ev := v.(ExampleOpened)
	fmt.Println(ev.Owner, ev.Balance.FloatString(2), ev.At, ev.Email == nil)
	// Output:
	// bank.AccountOpened magic 0 subject bank-events-bank.AccountOpened
	// Ann 10.50 2026-01-02 03:04:05 +0000 UTC true
}

// Check a schema change in a service's own tests, before it ships.
func ExampleCheckCompatibility() {
	v1 := `{"type":"record","name":"bank.AccountOpened","fields":[{"name":"owner","type":"string"}]}`
	v2 := `{"type":"record","name":"bank.AccountOpened","fields":[{"name":"owner","type":"string"},{"name":"branch","type":"string"}]}`
	fmt.Println(avro.CheckCompatibility(avro.FullTransitive, v2, v1))
	// Output:
	// avro: schema is not FULL_TRANSITIVE compatible with version 1 (new schema reading data written with the old one (backward)): at AccountOpened.branch: field "branch" is not in the writer's schema and has no default; make the change compatible (add fields with defaults, do not change field types) or introduce a new event type with an upcaster
}
