package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
)

// writers returns the store each concurrent writer uses: alternately s and
// its peer, when there is one.
func (h *harness) writers(t *testing.T, s eventstore.Store) []eventstore.Store {
	t.Helper()
	p := h.peer(t, s)
	out := make([]eventstore.Store, h.f.Writers)
	for i := range out {
		out[i] = s
		if i%2 == 1 {
			out[i] = p
		}
	}
	return out
}

// testConcurrentRounds starts all writers at once on the same expected
// version, round after round: at most one may win each try, and a round
// must be won within a few tries. (A try that nobody wins is allowed: on
// Kafka the leftovers of aborted appends can make every writer of a try
// back off; it must not happen again and again.)
func testConcurrentRounds(t *testing.T, h *harness) {
	s := h.open(t)
	stores := h.writers(t, s)
	ctx := h.ctx(t)
	const (
		rounds = 4
		tries  = 10
	)
	winners := make([]string, rounds)
	for r := range rounds {
		var lastErrs []error
		for try := 0; winners[r] == "" && try < tries; try++ {
			id := func(w int) string { return fmt.Sprintf("round-%d-try-%d-writer-%d", r, try, w) }
			start := make(chan struct{})
			errs := make([]error, len(stores))
			var wg sync.WaitGroup
			for w, st := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res, err := st.Append(ctx, "race", eventstore.Exact(int64(r)), evID(id(w), "T"))
					if err == nil && res.Version != int64(r+1) {
						err = fmt.Errorf("append won with version %d, want %d", res.Version, r+1)
					}
					errs[w] = err
				}()
			}
			close(start)
			wg.Wait()
			for w, err := range errs {
				if err == nil {
					require.Empty(t, winners[r], "round %d: two appends at expected version %d both succeeded (%s and %s)", r, r, winners[r], id(w))
					winners[r] = id(w)
					continue
				}
				requireConflict(t, err, "race", eventstore.Exact(int64(r)), -2)
				var ce *eventstore.ConflictError
				errors.As(err, &ce)
				require.True(t, ce.Actual == -1 || ce.Actual > int64(r), "round %d: ConflictError.Actual = %d; a conflicting stream is past the expected version, or -1 if unknown", r, ce.Actual)
			}
			lastErrs = errs
		}
		require.NotEmpty(t, winners[r], "round %d: no append succeeded in %d tries (last: %v)", r, tries, lastErrs)
	}
	for _, st := range []eventstore.Store{s, stores[len(stores)-1]} {
		requireEventually(t, h, func() bool {
			recs, err := collect(t, st.ReadStream(ctx, "race", 1))
			return err == nil && len(recs) == rounds
		}, "every store must see all rounds")
		requireIDs(t, h, st, "race", winners...)
	}
}

// testConcurrentWriters lets writers race on one stream, each retrying after
// conflicts until it has appended its share: the stream must end up with
// every acknowledged append exactly once, contiguous, and nothing else.
func testConcurrentWriters(t *testing.T, h *harness) {
	s := h.open(t)
	stores := h.writers(t, s)
	ctx := h.ctx(t)
	const perWriter = 3

	type ack struct {
		ids     []string
		version int64
	}
	var (
		mu   sync.Mutex
		acks []ack
		errs []error
		wg   sync.WaitGroup
	)
	for w, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := 1 + w%2 // some writers append two events at a time
			expected := int64(0)
			for done, attempts := 0, 0; done < perWriter; attempts++ {
				if attempts > 1000 || ctx.Err() != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("writer %d gave up after %d attempts with %d of %d appends done", w, attempts, done, perWriter))
					mu.Unlock()
					return
				}
				events := make([]eventstore.Event, batch)
				idList := make([]string, batch)
				for j := range events {
					idList[j] = fmt.Sprintf("w%d-a%d-e%d", w, done, j)
					events[j] = evID(idList[j], "T")
				}
				res, err := st.Append(ctx, "hot", eventstore.Exact(expected), events...)
				var ce *eventstore.ConflictError
				switch {
				case err == nil:
					mu.Lock()
					acks = append(acks, ack{idList, res.Version})
					mu.Unlock()
					if res.Version != expected+int64(batch) {
						mu.Lock()
						errs = append(errs, fmt.Errorf("writer %d: append at %d returned version %d", w, expected, res.Version))
						mu.Unlock()
					}
					expected = res.Version
					done++
				case errors.As(err, &ce) && ce.Actual >= 0:
					expected = ce.Actual
				case errors.Is(err, eventstore.ErrConcurrencyConflict):
					expected, err = lastVersion(ctx, st, "hot")
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("writer %d: read after conflict: %w", w, err))
						mu.Unlock()
						return
					}
				default:
					mu.Lock()
					errs = append(errs, fmt.Errorf("writer %d: append: %w", w, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)

	total := 0
	want := map[string]int64{}
	for _, a := range acks {
		total += len(a.ids)
		for j, id := range a.ids {
			want[id] = a.version - int64(len(a.ids)) + 1 + int64(j)
		}
	}
	for _, st := range []eventstore.Store{s, stores[len(stores)-1]} {
		requireEventually(t, h, func() bool {
			recs, err := collect(t, st.ReadStream(ctx, "hot", 1))
			return err == nil && len(recs) >= total
		}, "every store must see all acknowledged appends")
		recs := readStream(t, ctx, st, "hot", 1)
		requireVersions(t, recs, "hot", 1, total)
		for _, r := range recs {
			v, ok := want[r.ID]
			require.True(t, ok, "event %s@%d (%s) was not acknowledged to any writer", r.ID, r.Version, r.Position)
			require.Equal(t, v, r.Version, "event %s is not at the version its append returned", r.ID)
		}
	}
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	require.Len(t, all, total, "ReadAll must hold exactly the acknowledged events")
	requireLogOrder(t, all)
}

// testConcurrentStreams has writers append to their own streams at the same
// time: no append may fail, since no two touch the same stream.
func testConcurrentStreams(t *testing.T, h *harness) {
	s := h.open(t)
	stores := h.writers(t, s)
	ctx := h.ctx(t)
	const perWriter = 4
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for w, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("own-%d", w)
			for i := range perWriter {
				res, err := st.Append(ctx, stream, eventstore.Exact(int64(i)), ev("T", fmt.Sprint(i+1)))
				if err == nil && res.Version != int64(i+1) {
					err = fmt.Errorf("version %d, want %d", res.Version, i+1)
				}
				if err != nil {
					errs[w] = fmt.Errorf("writer %d, append %d to its own stream: %w", w, i+1, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	for w := range stores {
		requireVersions(t, readStream(t, ctx, s, fmt.Sprintf("own-%d", w), 1), fmt.Sprintf("own-%d", w), 1, perWriter)
	}
	all, err := collect(t, s.ReadAll(ctx, nil))
	require.NoError(t, err)
	require.Len(t, all, perWriter*len(stores))
	requireLogOrder(t, all)
}

// lastVersion returns the version of stream as st reads it (0 if missing).
func lastVersion(ctx context.Context, st eventstore.Store, stream string) (int64, error) {
	v := int64(0)
	for r, err := range st.ReadStream(ctx, stream, 1) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		v = r.Version
	}
	return v, nil
}
