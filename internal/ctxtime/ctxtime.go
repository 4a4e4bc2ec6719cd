// Package ctxtime holds the context-aware waits the packages share.
package ctxtime

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx's error in the second case (also when d <= 0 and ctx is
// already done); otherwise nil.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Every calls f every interval until ctx is done, and returns then. Each
// call gets a context that ends after timeout (or with ctx). With interval
// <= 0 it never calls f and only waits for ctx.
func Every(ctx context.Context, interval, timeout time.Duration, f func(ctx context.Context)) {
	if interval <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		f(cctx)
		cancel()
	}
}
