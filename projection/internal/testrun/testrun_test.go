package testrun_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kafkaes/kafkaes/projection/internal/testrun"
)

// stop cancels fn's context and returns fn's error, the same on every call.
func TestBackgroundStop(t *testing.T) {
	started := make(chan struct{})
	calls := 0
	stop := testrun.Background(t, func(ctx context.Context) error {
		calls++
		close(started)
		<-ctx.Done()
		return errors.Join(ctx.Err(), errors.New("done"))
	})
	<-started
	for range 2 {
		if err := stop(); !errors.Is(err, context.Canceled) || err.Error() != "context canceled\ndone" {
			t.Fatalf("stop: %v", err)
		}
	}
	if calls != 1 {
		t.Fatalf("fn ran %d times", calls)
	}
}

// A function that returns by itself before stop keeps its error.
func TestBackgroundReturnsEarly(t *testing.T) {
	want := errors.New("failed at once")
	done := make(chan struct{})
	stop := testrun.Background(t, func(context.Context) error { defer close(done); return want })
	<-done
	if err := stop(); err != want {
		t.Fatalf("stop: %v, want %v", err, want)
	}
}
