package sqlcheckpoint_test

import (
	"context"
	"database/sql"
	"log"

	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/sqlcheckpoint"
	"github.com/kafkaes/kafkaes/serde"
)

// A balance view in PostgreSQL whose checkpoint moves in the same
// transaction as the view (exactly-once effect).
func Example() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/app?sslmode=disable") // import _ "github.com/jackc/pgx/v5/stdlib"
	if err != nil {
		log.Fatal(err)
	}
	cps := sqlcheckpoint.New(db)
	if err := cps.Init(ctx); err != nil {
		log.Fatal(err)
	}
	reg := serde.NewRegistry()
	serde.MustRegister[Deposited](reg, "bank.Deposited")
	r, err := projection.New("balances", serde.NewJSON(reg), []projection.Handler{
		projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
			_, err := sqlcheckpoint.Tx(ctx).ExecContext(ctx,
				`INSERT INTO balances (account, balance) VALUES ($1, $2)
				 ON CONFLICT (account) DO UPDATE SET balance = balances.balance + $2`, m.StreamID, ev.Amount)
			return err
		}),
	}, projection.WithCheckpoints(cps))
	if err != nil {
		log.Fatal(err)
	}
	// Any source: the Kafka consumer-group source in production.
	if err := r.Run(ctx, projection.FromStore(memory.New())); err != nil {
		log.Print(err)
	}
}
