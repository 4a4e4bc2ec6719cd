// Package testenv helps tests that need software from outside the module
// (a PostgreSQL server, Python's fastavro): where to cache it, and how to
// say so when a suite cannot run.
//
// A plain `go test ./...` prints only one "ok" line per passing package:
// the output of the test binary (t.Skip messages included) is shown only
// with -v or on failure. A suite that skips because the machine cannot
// fetch what it needs would therefore skip silently. [Announce] writes its
// line to the stderr of the go command that runs the test binary (its
// parent process, through /proc on Linux), so the line is seen in
// non-verbose output too. A result that go test takes from its cache is
// not run again, and then prints no line.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// CacheDir returns the directory for downloads and installs of tests,
// <user cache dir>/kafkaes/<sub> (~/.cache/kafkaes/<sub> on Linux, as
// scripts/kafka-broker.sh uses), creating it.
func CacheDir(sub string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		home, herr := os.UserHomeDir()
		if herr != nil {
			return "", fmt.Errorf("testenv: no cache directory: %v; set XDG_CACHE_HOME or HOME", err)
		}
		base = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(base, "kafkaes", sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("testenv: create cache directory: %w", err)
	}
	return dir, nil
}

// RequiredEnv is the environment variable that makes [Unavailable] fail
// tests instead of skipping them; CI sets it, so that a machine that
// cannot fetch a test dependency fails the build.
const RequiredEnv = "KAFKAES_TEST_DEPS_REQUIRED"

// Unavailable ends a test that cannot run because the machine cannot
// fetch what it needs: it skips the test (its line was announced once
// with [Announce]), or fails it when [RequiredEnv] is set.
func Unavailable(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv(RequiredEnv) != "" {
		tb.Fatalf("%s (%s is set, so this is an error)", reason, RequiredEnv)
	}
	tb.Skip(reason)
}

var announced sync.Map // message -> struct{}

// Announce writes "kafkaes test: <message>" once per test process to the
// terminal of `go test` (see the package doc), and to the test binary's
// own stderr for -v runs and for test binaries run directly.
func Announce(format string, args ...any) {
	line := "kafkaes test: " + fmt.Sprintf(format, args...) + "\n"
	if _, dup := announced.LoadOrStore(line, struct{}{}); dup {
		return
	}
	fmt.Fprint(os.Stderr, line)
	if w := parentStderr(); w != nil {
		fmt.Fprint(w, line)
		_ = w.Close()
	}
}

// parentStderr opens the stderr of the go command running this test
// binary, or returns nil (not Linux, not run by go, or not allowed). A
// terminal or pipe is shared; a regular file only when the go command
// writes it in append mode (`>>`): otherwise the go command's next write,
// at its own offset, would overwrite the line.
func parentStderr() *os.File {
	proc := "/proc/" + strconv.Itoa(os.Getppid())
	exe, err := os.Readlink(proc + "/exe")
	if err != nil || filepath.Base(exe) != "go" {
		return nil
	}
	f, err := os.OpenFile(proc+"/fd/2", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil
	}
	if st, err := f.Stat(); err != nil || (st.Mode().IsRegular() && !appendMode(proc+"/fdinfo/2")) {
		_ = f.Close()
		return nil
	}
	return f
}

// appendMode reports whether the fdinfo file says O_APPEND.
func appendMode(fdinfo string) bool {
	b, err := os.ReadFile(fdinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&uint64(os.O_APPEND) != 0
		}
	}
	return false
}
