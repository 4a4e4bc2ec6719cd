// Package sqlcheckpoint keeps a projection's checkpoint in a SQL database,
// in the same transaction as the read model's changes, so that the view and
// its position always move together: after a crash, a rebalance or a
// retry, every event has had its effect on the view exactly once.
//
// It uses only database/sql; the SQL is PostgreSQL's (also accepted by
// CockroachDB and SQLite 3.24+): $n placeholders and INSERT ... ON CONFLICT.
// Open the database with any driver, for example pgx:
//
//	db, err := sql.Open("pgx", dsn) // import _ "github.com/jackc/pgx/v5/stdlib"
//	cps := sqlcheckpoint.New(db)
//	err = cps.Init(ctx) // creates the checkpoint table if needed
//	r, err := projection.New("order-summary", sd, handlers, projection.WithCheckpoints(cps))
//
// Handlers write the view through the transaction the runner opened:
//
//	projection.On(func(ctx context.Context, ev OrderPlaced, m projection.Meta) error {
//		_, err := sqlcheckpoint.Tx(ctx).ExecContext(ctx, `INSERT INTO orders ...`, ...)
//		return err
//	})
//
// The checkpoint table has one row per projection and partition with the
// offset of the next event to process. Commits are fenced: a transaction
// moves the row only if it still holds the offset the batch started from,
// so a zombie instance that lost its partitions in a rebalance cannot
// overwrite the work of the instance that took them over; its transaction
// is rolled back instead.
package sqlcheckpoint
