// Package pgtest gives tests a PostgreSQL database and unique table names.
//
// The database is KAFKAES_POSTGRES_DSN when it is set (scripts/postgres.sh
// starts a server and prints it). Otherwise the first test that asks starts
// a throw-away server for the test process with
// github.com/fergusstrange/embedded-postgres: the PostgreSQL binaries come
// from their Maven Central artifact (io.zonky.test.postgres), downloaded
// once into ~/.cache/kafkaes/embedded-postgres, and the server runs on a
// free loopback port with its data in a temporary directory. Packages that
// use it call [Main] from TestMain, which stops the server.
//
// As root (CI machines, containers) PostgreSQL refuses to run, so the
// server's binaries are run as the unprivileged user nobody (uid 65534)
// through setpriv or runuser.
//
// Tests skip only when the binaries cannot be fetched (no network to Maven
// Central and no cached copy), and then say so on the go command's output
// once per package (see package testenv); with KAFKAES_TEST_DEPS_REQUIRED
// set (CI) they fail instead. Any other failure to start the server fails
// the tests.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/kafkaes/kafkaes/internal/testenv"
)

// version is the PostgreSQL version the embedded server runs.
const version = embeddedpostgres.V18

// mavenCentral is where embedded-postgres fetches the binaries.
const mavenCentral = "https://repo1.maven.org/maven2"

var server struct {
	once sync.Once
	dsn  string
	skip string // why the tests skip (the binaries cannot be fetched)
	err  error  // why the server did not start
	stop func()
}

// DSN returns the connection string of the test database: the
// KAFKAES_POSTGRES_DSN environment variable, or else the embedded server
// (started on first use). It skips the test when the PostgreSQL binaries
// cannot be fetched, and fails it when the server does not start.
func DSN(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv("KAFKAES_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	server.once.Do(start)
	switch {
	case server.skip != "":
		testenv.Unavailable(tb, server.skip)
	case server.err != nil:
		tb.Fatalf("pgtest: %v", server.err)
	}
	return server.dsn
}

// Main runs the tests and stops the embedded server, if one was started:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if server.stop != nil {
		server.stop()
	}
	os.Exit(code)
}

// DB returns a connection pool to the test database (see [DSN]), closed
// when the test ends.
func DB(tb testing.TB) *sql.DB {
	tb.Helper()
	dsn := DSN(tb)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatalf("pgtest: open %s: %v", dsn, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		tb.Fatalf("pgtest: connect to the test database: %v", err)
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

// errCannotFetch means the binaries are neither cached nor fetchable.
var errCannotFetch = errors.New("cannot fetch the PostgreSQL binaries")

func start() {
	dsn, stop, err := startEmbedded()
	switch {
	case errors.Is(err, errCannotFetch):
		server.skip = fmt.Sprintf("PostgreSQL tests skipped: %v; set KAFKAES_POSTGRES_DSN to use a server of your own (scripts/postgres.sh starts one)", err)
		testenv.Announce("%s", server.skip)
	case err != nil:
		server.err = fmt.Errorf("start the embedded PostgreSQL server: %w (set KAFKAES_POSTGRES_DSN to use a server of your own)", err)
	default:
		server.dsn, server.stop = dsn, stop
	}
}

func startEmbedded() (dsn string, stop func(), err error) {
	cache, err := testenv.CacheDir("embedded-postgres")
	if err != nil {
		return "", nil, err
	}
	if err := fetchable(cache); err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "kafkaes-pg-")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	var log bytes.Buffer
	bin, run := filepath.Join(tmp, "bin"), filepath.Join(tmp, "run")
	cfg := embeddedpostgres.DefaultConfig().Version(version).Port(port).Database("kafkaes").
		CachePath(cache).BinariesPath(bin).RuntimePath(run).DataPath(filepath.Join(run, "data")).
		StartTimeout(time.Minute).Logger(&log)
	pg := embeddedpostgres.NewDatabase(cfg)
	if os.Geteuid() == 0 {
		if err := os.Chmod(tmp, 0o755); err != nil {
			return "", nil, err
		}
		// The first start extracts the binaries and fails in initdb
		// (PostgreSQL does not run as root); wrap them, then start again.
		if err := pg.Start(); err == nil {
			_ = pg.Stop()
			return "", nil, errors.New("PostgreSQL started as root; refusing to use it")
		}
		if err := runAsNobody(bin, run); err != nil {
			return "", nil, err
		}
		log.Reset()
	}
	if err := pg.Start(); err != nil {
		return "", nil, fmt.Errorf("%w\n%s", err, log.String())
	}
	stop = func() {
		_ = pg.Stop()
		_ = os.RemoveAll(tmp)
	}
	return cfg.GetConnectionURL() + "?sslmode=disable", stop, nil
}

// fetchable returns nil when the binaries are in the cache or Maven
// Central answers, and an error matching errCannotFetch otherwise (so the
// library's download, which has no timeout, is not left to hang).
func fetchable(cache string) error {
	if m, _ := filepath.Glob(filepath.Join(cache, "embedded-postgres-binaries-*-"+string(version)+".txz")); len(m) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, mavenCentral+"/io/zonky/test/postgres/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: none cached in %s and Maven Central is unreachable (%v)", errCannotFetch, cache, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: none cached in %s and Maven Central answers %s", errCannotFetch, cache, resp.Status)
	}
	return nil
}

func freePort() (uint32, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port), nil
}

// runAsNobody replaces bin/initdb and bin/pg_ctl by scripts that hand the
// runtime directory to nobody and run the real programs as nobody (they
// find postgres next to themselves).
func runAsNobody(bin, run string) error {
	drop, err := dropPrivileges()
	if err != nil {
		return err
	}
	for _, name := range []string{"initdb", "pg_ctl"} {
		path := filepath.Join(bin, "bin", name)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("the PostgreSQL binaries were not extracted: %w", err)
		}
		if err := os.Rename(path, path+".real"); err != nil {
			return err
		}
		script := fmt.Sprintf("#!/bin/sh\nmkdir -p %[1]s && chown -R 65534:65534 %[1]s\nexec %[2]s %[3]s \"$@\"\n",
			shellQuote(run), drop, shellQuote(path+".real"))
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// dropPrivileges returns the command prefix that runs a program as nobody.
func dropPrivileges() (string, error) {
	if p, err := exec.LookPath("setpriv"); err == nil {
		return shellQuote(p) + " --reuid=65534 --regid=65534 --clear-groups --", nil
	}
	if p, err := exec.LookPath("runuser"); err == nil {
		return shellQuote(p) + " -u nobody --", nil
	}
	return "", errors.New("running as root, and neither setpriv nor runuser (util-linux) is installed to run PostgreSQL as an unprivileged user")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
