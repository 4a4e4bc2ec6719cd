package kafka_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// BenchmarkAppendVsPostgres compares kafkaes with what a user would build
// instead of Kafka: a PostgreSQL event store, one table with
// UNIQUE(stream_id, version) as the concurrency check (the design of
// Marten and of most hand-written stores). Each of 64 or 1024 appenders
// appends one ~200-byte event at a time to its own stream with the
// expected version. postgres-sync commits durably (the server must run
// with fsync=on and synchronous_commit=on: KAFKAES_PG_DURABLE=1
// scripts/postgres.sh); postgres-async sets synchronous_commit=off for its
// sessions (a crash may lose the last commits, as Kafka acks=all with
// replication does not); kafkaes is Append with Exact(version) on the
// Kafka store. Compare events/s (issue 14 goals at 1024 appenders on a
// real broker: kafkaes ≥ 2x postgres-sync and ≥ 1x postgres-async).
//
//	KAFKAES_PG_DURABLE=1 scripts/postgres.sh stop; eval "$(KAFKAES_PG_DURABLE=1 scripts/postgres.sh)"
//	KAFKAES_BROKERS=127.0.0.1:19092 go test -run '^$' -bench BenchmarkAppendVsPostgres ./eventstore/kafka/
func BenchmarkAppendVsPostgres(b *testing.B) {
	dsn := os.Getenv("KAFKAES_POSTGRES_DSN")
	if dsn == "" {
		b.Skip("KAFKAES_POSTGRES_DSN is unset: start a durable server with `eval \"$(KAFKAES_PG_DURABLE=1 scripts/postgres.sh)\"` and run again")
	}
	c := kafkatest.New(b)
	topic := kafkatest.TopicName(b, "events")
	c.CreateTopic(b, topic, benchPartitions, kafkatest.EventsTopicConfig())
	ev := benchEvent()
	ctx := context.Background()
	for _, appenders := range []int{64, 1024} {
		for _, mode := range []string{"postgres-sync", "postgres-async", "kafkaes"} {
			b.Run(fmt.Sprintf("appenders=%d/%s", appenders, mode), func(b *testing.B) {
				prefix := benchPrefix()
				b.SetBytes(benchEventSize)
				if mode == "kafkaes" {
					s := openBenchStore(b, c, topic)
					runAppendersN(b, appenders, func(i int, k int64) error {
						_, err := s.Append(ctx, prefix+"-"+strconv.Itoa(i), eventstore.Exact(k), ev)
						return err
					})
					return
				}
				db := pgEventStore(b, dsn, mode == "postgres-async", appenders)
				runAppendersN(b, appenders, func(i int, k int64) error {
					_, err := db.ExecContext(ctx,
						`INSERT INTO kafkaes_bench_events (stream_id, version, event_id, type, data, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)`,
						prefix+"-"+strconv.Itoa(i), k+1, eventstore.NewEventID(), ev.Type, ev.Data, time.Now().UTC())
					return err
				})
			})
		}
	}
}

// pgEventStore opens a pool to dsn (at most 256 connections; appenders
// beyond that queue for one, as they would in a service) and creates the
// events table. async turns synchronous_commit off for its sessions.
func pgEventStore(b *testing.B, dsn string, async bool, appenders int) *sql.DB {
	b.Helper()
	if async {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "synchronous_commit=off"
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(min(appenders, 256))
	db.SetMaxIdleConns(min(appenders, 256))
	var fsync, syncCommit string
	if err := db.QueryRow(`SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit); err != nil {
		b.Fatal(err)
	}
	want := "on"
	if async {
		want = "off"
	}
	if fsync != "on" || syncCommit != want {
		b.Skipf("the PostgreSQL server runs with fsync=%s, synchronous_commit=%s; this case needs fsync=on, synchronous_commit=%s (restart it with KAFKAES_PG_DURABLE=1 scripts/postgres.sh)", fsync, syncCommit, want)
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS kafkaes_bench_events (
		position    BIGSERIAL PRIMARY KEY,
		stream_id   TEXT NOT NULL,
		version     BIGINT NOT NULL,
		event_id    TEXT NOT NULL,
		type        TEXT NOT NULL,
		data        BYTEA NOT NULL,
		recorded_at TIMESTAMPTZ NOT NULL,
		UNIQUE (stream_id, version))`); err != nil {
		b.Fatal(err)
	}
	return db
}
