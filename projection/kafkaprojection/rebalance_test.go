package kafkaprojection_test

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/pgtest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/internal/testrun"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/projection/sqlcheckpoint"
)

// Two runner instances share a consumer group; one is killed in the middle
// of a batch (its handler hangs inside the batch, then the instance is
// cancelled). The other takes its partitions over. With consumer-group
// offsets every event reaches the view at least once; with the checkpoint
// in the view's SQL transaction exactly once. The filtered modes do the same
// with a source filtered by WithReadOptions, whose claims are read with raw
// fetches instead of sarama's partition consumers.
func TestRebalanceKilledInstance(t *testing.T) {
	for _, mode := range []string{"offsets", "sql"} {
		t.Run(mode, func(t *testing.T) { testRebalance(t, mode, false) })
		t.Run(mode+"-filtered", func(t *testing.T) { testRebalance(t, mode, true) })
	}
}

func testRebalance(t *testing.T, mode string, filtered bool) {
	var db *sql.DB
	var cps *sqlcheckpoint.Store
	var view string
	if mode == "sql" {
		db = pgtest.DB(t)
		cps = sqlcheckpoint.New(db, sqlcheckpoint.WithTable(pgtest.Table(t, db, "cp")))
		require.NoError(t, cps.Init(context.Background()))
		view = pgtest.Table(t, db, "view")
		_, err := db.Exec(`CREATE TABLE ` + view + ` (stream TEXT NOT NULL, version BIGINT NOT NULL, instance TEXT NOT NULL)`)
		require.NoError(t, err)
	}
	c, topic := eventsTopic(t, 4)
	const n = 400
	last := newProducer(t, c, topic).depositN(n, 16)
	group := kafkatest.TopicName(t, "group")

	seenA, seenB := newSeen(), newSeen()
	hung := make(chan struct{})
	var handledA atomic.Int32
	newRunner := func(name string, s *seen, hangAt int32) *projection.Runner {
		var opts []projection.Option
		if cps != nil {
			opts = append(opts, projection.WithCheckpoints(cps))
		}
		r, err := projection.New("view", testSerde(), []projection.Handler{
			projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
				if cps != nil {
					if _, err := sqlcheckpoint.Tx(ctx).ExecContext(ctx, `INSERT INTO `+view+` VALUES ($1, $2, $3)`, m.StreamID, m.Version, name); err != nil {
						return err
					}
				}
				if hangAt > 0 && handledA.Add(1) == hangAt {
					close(hung)
					<-ctx.Done() // hang in the middle of the batch until killed
					return ctx.Err()
				}
				s.add(m.StreamID, m.Version)
				return nil
			}),
		}, opts...)
		require.NoError(t, err)
		return r
	}
	rA := newRunner("A", seenA, 60)
	rB := newRunner("B", seenB, 0)
	sopts := []kafkaprojection.Option{kafkaprojection.WithMaxBatch(10)}
	if filtered {
		sopts = append(sopts, kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited")))
	}
	srcA := newSource(t, c, topic, group, sopts...)
	srcB := newSource(t, c, topic, group, sopts...)
	var wg sync.WaitGroup
	wg.Add(1)
	// A starts alone and owns every partition; it hangs in the middle of a
	// batch; B joins the group; A is killed; B must take everything over.
	killA := testrun.Background(t, func(ctx context.Context) error { defer wg.Done(); return rA.Run(ctx, srcA) })
	select {
	case <-hung:
	case <-time.After(60 * time.Second):
		t.Fatal("instance A never reached its 60th event")
	}
	stopB := testrun.Background(t, func(ctx context.Context) error { return rB.Run(ctx, srcB) })
	time.Sleep(200 * time.Millisecond) // let B's join start while A hangs
	require.ErrorIs(t, killA(), context.Canceled)
	wg.Wait()

	ctx := timeout(t, 90*time.Second)
	for _, pos := range last {
		require.NoError(t, rB.WaitFor(ctx, pos), "B must take over A's partitions and reach %s", pos)
	}
	require.ErrorIs(t, stopB(), context.Canceled)

	union := map[string]int{}
	for k, v := range seenA.counts() {
		union[k] += v
	}
	for k, v := range seenB.counts() {
		union[k] += v
	}
	require.Len(t, union, n, "every event reached the view at least once")
	require.NotEmpty(t, seenA.counts(), "A did some work before it was killed")

	if mode == "sql" {
		var total, distinct, byA int
		require.NoError(t, db.QueryRow(`SELECT count(*), count(DISTINCT (stream, version)), count(*) FILTER (WHERE instance = 'A') FROM `+view).Scan(&total, &distinct, &byA))
		require.Equal(t, n, distinct, "every event is in the view")
		require.Equal(t, n, total, "no event is in the view twice")
		require.Greater(t, byA, 0, "A committed some batches before it was killed")
		cp, err := cps.Load(context.Background(), "view")
		require.NoError(t, err)
		for part, pos := range last {
			require.Equal(t, pos.Offset+1, cp[part])
		}
	}
}
