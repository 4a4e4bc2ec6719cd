package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// appendMode tells a file the go command appends to (`>>`, safe to share)
// from one it writes at its own offset (a line written there would be
// overwritten).
func TestAppendMode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fdinfo is Linux's")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		flag int
		want bool
	}{{os.O_WRONLY | os.O_CREATE | os.O_APPEND, true}, {os.O_WRONLY | os.O_CREATE | os.O_TRUNC, false}} {
		f, err := os.OpenFile(filepath.Join(dir, "log"), tc.flag, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendMode("/proc/self/fdinfo/" + strconv.Itoa(int(f.Fd()))); got != tc.want {
			t.Errorf("flags %o: appendMode = %v, want %v", tc.flag, got, tc.want)
		}
		_ = f.Close()
	}
	if appendMode(filepath.Join(dir, "missing")) {
		t.Error("a missing fdinfo file is not append mode")
	}
}
