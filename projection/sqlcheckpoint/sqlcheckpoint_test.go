package sqlcheckpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/internal/pgtest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/sqlcheckpoint"
	"github.com/kafkaes/kafkaes/serde"
)

type Deposited struct {
	Amount int64 `json:"amount"`
}

func TestFencedCommit(t *testing.T) {
	db := pgtest.DB(t)
	ctx := context.Background()
	cps := sqlcheckpoint.New(db, sqlcheckpoint.WithTable(pgtest.Table(t, db, "cp")))
	require.NoError(t, cps.Init(ctx))
	require.NoError(t, cps.Init(ctx), "Init is idempotent")
	cp, err := cps.Load(ctx, "p")
	require.NoError(t, err)
	require.Nil(t, cp)

	view := pgtest.Table(t, db, "view")
	_, err = db.Exec(`CREATE TABLE ` + view + ` (n INT)`)
	require.NoError(t, err)

	// Two instances start from the same position; the second commit loses.
	c1, t1, err := cps.Begin(ctx, "p", 0)
	require.NoError(t, err)
	c2, t2, err := cps.Begin(ctx, "p", 0)
	require.NoError(t, err)
	_, err = sqlcheckpoint.Tx(c1).ExecContext(c1, `INSERT INTO `+view+` VALUES (1)`)
	require.NoError(t, err)
	_, err = sqlcheckpoint.Tx(c2).ExecContext(c2, `INSERT INTO `+view+` VALUES (2)`)
	require.NoError(t, err)
	require.NoError(t, t1.Commit(ctx, 3, 0, 10))
	require.ErrorIs(t, t2.Commit(ctx, 3, 0, 12), projection.ErrCheckpointMoved)
	require.NoError(t, t2.Rollback())

	var ns []int
	rows, err := db.Query(`SELECT n FROM ` + view)
	require.NoError(t, err)
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		ns = append(ns, n)
	}
	require.Equal(t, []int{1}, ns, "the fenced transaction's view change is rolled back")

	// With the row existing: the second UPDATE finds the row moved.
	_, t3, err := cps.Begin(ctx, "p", 0)
	require.NoError(t, err)
	_, t4, err := cps.Begin(ctx, "p", 0)
	require.NoError(t, err)
	require.NoError(t, t3.Commit(ctx, 3, 10, 20))
	require.ErrorIs(t, t4.Commit(ctx, 3, 10, 21), projection.ErrCheckpointMoved)

	cp, err = cps.Load(ctx, "p")
	require.NoError(t, err)
	require.Equal(t, eventstore.Checkpoint{3: 20}, cp)
	require.NoError(t, cps.Delete(ctx, "p"))
	cp, err = cps.Load(ctx, "p")
	require.NoError(t, err)
	require.Nil(t, cp)
}

func TestBadConfig(t *testing.T) {
	cps := sqlcheckpoint.New(nil)
	require.ErrorContains(t, cps.Init(context.Background()), "nil *sql.DB")
	db := pgtest.DB(t)
	cps = sqlcheckpoint.New(db, sqlcheckpoint.WithTable("x; DROP TABLE y"))
	require.ErrorContains(t, cps.Init(context.Background()), "not a plain identifier")
}

// A projection into a SQL view with the checkpoint in the same transaction:
// transient handler failures and a runner that is stopped in the middle of
// a transaction and replaced still leave every event applied exactly once.
func TestRunnerExactlyOnceWithSQLView(t *testing.T) {
	db := pgtest.DB(t)
	ctx := context.Background()
	cps := sqlcheckpoint.New(db, sqlcheckpoint.WithTable(pgtest.Table(t, db, "cp")))
	require.NoError(t, cps.Init(ctx))
	view := pgtest.Table(t, db, "balances")
	_, err := db.Exec(`CREATE TABLE ` + view + ` (stream TEXT PRIMARY KEY, balance BIGINT NOT NULL, events INT NOT NULL)`)
	require.NoError(t, err)

	reg := serde.NewRegistry()
	serde.MustRegister[Deposited](reg, "test.Deposited")
	sd := serde.NewJSON(reg)
	st := memory.New()
	var last eventstore.AppendResult
	for i := range 60 {
		data, _ := json.Marshal(Deposited{Amount: int64(i)})
		last, err = st.Append(ctx, fmt.Sprint("acc-", i%4), eventstore.Any, eventstore.Event{Type: "test.Deposited", Data: data})
		require.NoError(t, err)
	}
	var calls atomic.Int64
	newRunner := func(stopAt int64, cancel func()) *projection.Runner {
		r, err := projection.New("balances", sd, []projection.Handler{
			projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
				n := calls.Add(1)
				if n == stopAt {
					cancel() // "crash" in the middle of a transaction
					return ctx.Err()
				}
				_, err := sqlcheckpoint.Tx(ctx).ExecContext(ctx, `INSERT INTO `+view+` (stream, balance, events) VALUES ($1, $2, 1)
ON CONFLICT (stream) DO UPDATE SET balance = `+view+`.balance + EXCLUDED.balance, events = `+view+`.events + 1`, m.StreamID, ev.Amount)
				if err == nil && n%7 == 0 {
					return errors.New("transient failure after writing") // rolled back, retried
				}
				return err
			}),
		}, projection.WithCheckpoints(cps), projection.WithRetry(3, time.Millisecond, time.Millisecond))
		require.NoError(t, err)
		return r
	}
	c1, cancel1 := context.WithCancel(ctx)
	r1 := newRunner(25, cancel1)
	require.ErrorIs(t, r1.Run(c1, projection.FromStore(st)), context.Canceled)
	cp, err := cps.Load(ctx, "balances")
	require.NoError(t, err)
	require.Greater(t, cp[0], int64(0))
	require.Less(t, cp[0], int64(60))

	r2 := newRunner(-1, nil)
	require.NoError(t, r2.CatchUp(ctx, projection.FromStore(st), nil))
	require.NoError(t, r2.WaitFor(ctx, last.Positions[0]))

	var total, events int64
	require.NoError(t, db.QueryRow(`SELECT sum(balance), sum(events) FROM `+view).Scan(&total, &events))
	require.Equal(t, int64(60), events, "every event applied exactly once")
	require.Equal(t, int64(59*60/2), total)
	cp, err = cps.Load(ctx, "balances")
	require.NoError(t, err)
	require.Equal(t, eventstore.Checkpoint{0: 60}, cp)
}
