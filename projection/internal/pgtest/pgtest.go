// Package pgtest connects tests to the PostgreSQL named by
// KAFKAES_POSTGRES_DSN (scripts/postgres.sh starts one and prints it) and
// gives them unique table names.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// DB returns a connection pool to KAFKAES_POSTGRES_DSN, closed when the
// test ends, or skips the test when the variable is unset.
func DB(tb testing.TB) *sql.DB {
	tb.Helper()
	dsn := os.Getenv("KAFKAES_POSTGRES_DSN")
	if dsn == "" {
		tb.Skip("KAFKAES_POSTGRES_DSN is not set: PostgreSQL tests skipped; run eval \"$(scripts/postgres.sh)\" to start a server")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatalf("pgtest: open %s: %v", dsn, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		tb.Fatalf("pgtest: connect to KAFKAES_POSTGRES_DSN: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// Table returns a unique table name starting with prefix and drops the
// table when the test ends.
func Table(tb testing.TB, db *sql.DB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() { _, _ = db.Exec(`DROP TABLE IF EXISTS ` + name) })
	return name
}
