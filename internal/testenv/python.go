package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type pyResult struct {
	py, path   string // python3 and the PYTHONPATH that holds the package
	skip       string
	err        error
	installing time.Duration
}

var (
	pyMu    sync.Mutex
	pyCache = map[string]*pyResult{}
)

// Python returns a function that makes python3 commands able to import
// the Python package pkg at exactly version. The package is installed
// once with pip into <cache>/python/<pkg>-<version>-py<X.Y> (see
// [CacheDir]) and put first on PYTHONPATH, so neither the system's Python
// nor the user's site-packages are touched. The test is skipped, with an
// [Announce]d line, when python3 or pip is missing or pip cannot fetch the
// package; it fails when the installed package does not import.
func Python(tb testing.TB, pkg, version string) func(args ...string) *exec.Cmd {
	tb.Helper()
	pyMu.Lock()
	key := pkg + "==" + version
	r, ok := pyCache[key]
	if !ok {
		r = installPython(pkg, version)
		pyCache[key] = r
		if r.skip != "" {
			Announce("%s", r.skip)
		}
	}
	pyMu.Unlock()
	switch {
	case r.skip != "":
		Unavailable(tb, r.skip)
	case r.err != nil:
		tb.Fatalf("testenv: %v", r.err)
	}
	return func(args ...string) *exec.Cmd {
		cmd := exec.Command(r.py, args...)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+r.path, "PYTHONNOUSERSITE=1")
		return cmd
	}
}

func installPython(pkg, version string) *pyResult {
	what := fmt.Sprintf("tests that need Python's %s %s skipped", pkg, version)
	py, err := exec.LookPath("python3")
	if err != nil {
		return &pyResult{skip: what + ": python3 is not installed"}
	}
	out, err := exec.Command(py, "-c", `import sys; print("%d.%d" % sys.version_info[:2])`).Output()
	if err != nil {
		return &pyResult{skip: fmt.Sprintf("%s: python3 does not run: %v", what, err)}
	}
	parent, err := CacheDir("python")
	if err != nil {
		return &pyResult{err: err}
	}
	dir := filepath.Join(parent, fmt.Sprintf("%s-%s-py%s", pkg, version, strings.TrimSpace(string(out))))
	r := &pyResult{py: py, path: dir}
	check := func() error {
		mod := strings.ReplaceAll(pkg, "-", "_")
		cmd := exec.Command(py, "-c", fmt.Sprintf("import sys, %[1]s; v = %[1]s.__version__; sys.exit(0 if v == %[2]q else 'found %[1]s ' + v + ', want %[2]s')", mod, version))
		cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONNOUSERSITE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, bytesTrim(out))
		}
		return nil
	}
	if _, err := os.Stat(dir); err == nil && check() == nil {
		return r
	}
	// Install into a fresh directory and rename it into place, so that a
	// concurrent test process never sees half an install.
	var b [4]byte
	_, _ = rand.Read(b[:])
	tmp := dir + ".tmp-" + hex.EncodeToString(b[:])
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	pip := exec.CommandContext(ctx, py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
		"--no-warn-script-location", "--target", tmp, pkg+"=="+version)
	if out, err := pip.CombinedOutput(); err != nil {
		return &pyResult{skip: fmt.Sprintf("%s: pip cannot install it (%v: %s); install it with `python3 -m pip install %s==%s`", what, err, lastLines(out, 3), pkg, version)}
	}
	r.installing = time.Since(start)
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil && check() != nil {
		return &pyResult{err: fmt.Errorf("install %s %s into %s: %w", pkg, version, dir, err)}
	}
	if err := check(); err != nil {
		return &pyResult{err: fmt.Errorf("%s %s was installed into %s but does not import: %w", pkg, version, dir, err)}
	}
	return r
}

func bytesTrim(b []byte) string { return strings.TrimSpace(string(b)) }

// lastLines returns the last n lines of out, joined with " | ".
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
