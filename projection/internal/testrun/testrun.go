// Package testrun runs the code under test of the projection test suites
// in the background (a runner's Run, a source's Run) and stops it again.
package testrun

import (
	"context"
	"sync"
	"testing"
	"time"
)

// StopTimeout is how long stop waits for fn to return after cancelling
// its context before it fails the test.
const StopTimeout = 60 * time.Second

// Background runs fn in a goroutine with a context of its own. The
// returned stop cancels that context, waits up to [StopTimeout] for fn to
// return and returns fn's error (the same error on every call); it runs by
// itself when the test ends.
func Background(tb testing.TB, fn func(ctx context.Context) error) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(StopTimeout):
				tb.Errorf("the code run in the background did not return within %s of its context's cancellation", StopTimeout)
			}
		})
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}
