package account_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/examples/bank/account"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

// depositedV2 is the next version of account.Deposited: it adds the channel
// the money came through, with a default, so the change is FULL_TRANSITIVE
// compatible.
type depositedV2 struct {
	Amount    int64  `avro:"amount"`
	Reference string `avro:"reference"`
	Channel   string `avro:"channel,default=branch"`
}

// TestDepositedV2ReadsV1Events is the schema evolution step of the bank
// example: events written by v1 code load in v2 code (the new field takes
// its default), and v1 code still reads what v2 writes.
func TestDepositedV2ReadsV1Events(t *testing.T) {
	ctx := context.Background()
	client, _ := avrotest.Registry(t)
	topic := "bank-evolution-" + t.Name()

	reg1 := serde.NewRegistry()
	require.NoError(t, account.Register(reg1))
	v1, err := avro.New(ctx, reg1, client, topic)
	require.NoError(t, err)
	_, old, err := v1.Marshal(ctx, account.Deposited{Amount: 500, Reference: "salary"})
	require.NoError(t, err)

	reg2 := serde.NewRegistry()
	serde.MustRegister[depositedV2](reg2, "bank.MoneyDeposited")
	v2, err := avro.New(ctx, reg2, client, topic, avro.WithCompatibility(avro.FullTransitive))
	require.NoError(t, err)
	got, err := v2.Unmarshal(ctx, "bank.MoneyDeposited", old)
	require.NoError(t, err)
	require.Equal(t, depositedV2{Amount: 500, Reference: "salary", Channel: "branch"}, got)

	_, newer, err := v2.Marshal(ctx, depositedV2{Amount: 7, Reference: "atm", Channel: "app"})
	require.NoError(t, err, "v2 must register as FULL_TRANSITIVE compatible")
	back, err := v1.Unmarshal(ctx, "bank.MoneyDeposited", newer)
	require.NoError(t, err)
	require.Equal(t, account.Deposited{Amount: 7, Reference: "atm"}, back)
}
