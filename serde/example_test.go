package serde_test

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/kafkaes/kafkaes/serde"
)

// Register event types under stable names once at start-up; a serde then
// turns values into (name, bytes) and back.
func ExampleRegister() {
	type AccountOpened struct {
		Owner string
		Limit int64
	}
	reg := serde.NewRegistry()
	if err := serde.Register[AccountOpened](reg, "bank.AccountOpened"); err != nil {
		fmt.Println(err)
		return
	}
	sd := serde.NewJSON(reg)
	ctx := context.Background()

	name, data, err := sd.Marshal(ctx, AccountOpened{Owner: "alice", Limit: math.MaxInt64})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(name, string(data))

	v, err := sd.Unmarshal(ctx, name, data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", v.(AccountOpened))

	_, err = sd.Unmarshal(ctx, "bank.AccountClosed", []byte(`{}`))
	fmt.Println(errors.Is(err, serde.ErrUnknownType))
	// Output:
	// bank.AccountOpened {"Owner":"alice","Limit":9223372036854775807}
	// {Owner:alice Limit:9223372036854775807}
	// true
}
