package aggregate

import (
	"testing"
	"time"
)

type backoffAgg struct{ Root }

func (*backoffAgg) Apply(any) {}

func TestBackoffFullJitterWithinBounds(t *testing.T) {
	r := NewRepository[*backoffAgg](nil, nil, func() *backoffAgg { return &backoffAgg{} },
		WithRetry(10, 4*time.Millisecond, 50*time.Millisecond))
	for attempt := range 64 {
		ceil := min(4*time.Millisecond<<min(attempt, 20), 50*time.Millisecond)
		distinct := map[time.Duration]bool{}
		for range 200 {
			d := r.backoff(attempt)
			if d < 0 || d > ceil {
				t.Fatalf("attempt %d: backoff %v outside [0, %v]", attempt, d, ceil)
			}
			distinct[d] = true
		}
		if len(distinct) < 10 {
			t.Fatalf("attempt %d: only %d distinct delays in 200 draws; the backoff must be jittered", attempt, len(distinct))
		}
	}
}

func TestBackoffEdgeCases(t *testing.T) {
	newT := func() *backoffAgg { return &backoffAgg{} }
	zero := NewRepository[*backoffAgg](nil, nil, newT, WithRetry(3, 0, 0))
	if d := zero.backoff(5); d != 0 {
		t.Fatalf("zero base and max: backoff %v, want 0", d)
	}
	// A huge base overflows when shifted; the cap must still hold.
	huge := NewRepository[*backoffAgg](nil, nil, newT, WithRetry(3, time.Duration(1)<<62, time.Second))
	for attempt := range 30 {
		if d := huge.backoff(attempt); d < 0 || d > time.Second {
			t.Fatalf("attempt %d: backoff %v outside [0, 1s]", attempt, d)
		}
	}
	def := NewRepository[*backoffAgg](nil, nil, newT)
	if def.cfg.attempts != 5 || def.cfg.baseDelay != 5*time.Millisecond || def.cfg.maxDelay != 500*time.Millisecond {
		t.Fatalf("defaults changed without updating the docs: %+v", def.cfg)
	}
}
