package kafka

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/internal/ctxtime"
)

type fetched struct {
	res    map[int32]*partResult
	target map[int32]int64
	err    error
}

// build is the index's first catch-up, at start: one read of the whole
// topic. One fetcher per core (at most one per partition) reads a
// disjoint set of partitions, so that the decoding of fetch responses
// runs in parallel, and the next responses are in flight while the
// previous ones go into the index (by an indexer per fetcher). It
// stops at each partition's last stable offset as of its first fetch; the
// ordinary catch-up that follows it in start does the rest (and the
// bookkeeping of undecided records). Nothing else touches the index yet.
// TestBuildEqualsCatchUp checks that it builds the index the ordinary
// catch-up builds.
func (s *Store) build(ctx context.Context, parts []int32, progress func(p int32, next, end int64)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Fetch through franz-go with the raw batch walker (rawbuild.go) when
	// the connection settings allow; through sarama otherwise.
	fetch := func(ctx context.Context, offsets map[int32]int64) (map[int32]*partResult, error) {
		return s.f.fetch(ctx, offsets, sarama.ReadCommitted, 0, fetchMaxBytes)
	}
	raw, err := s.newRawFetcher()
	if err != nil {
		return fmt.Errorf("kafka: build the stream index of %s: %w", s.topic, err)
	}
	if raw != nil {
		defer raw.close()
		fetch = func(ctx context.Context, offsets map[int32]int64) (map[int32]*partResult, error) {
			return raw.fetch(ctx, offsets, fetchMaxBytes)
		}
	}
	// Several fetchers on disjoint sets of partitions decode their
	// responses in parallel (the client's decoding is most of the cost),
	// each with an indexer of its own that inserts the records of the
	// previous response into the index of its partitions (independent
	// of the others') while the fetcher fetches the next one. Progress is
	// reported by one at a time.
	nf := max(1, min(len(parts), runtime.GOMAXPROCS(0)))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // serialises reports, guards firstErr
		firstErr error
	)
	for i := range nf {
		var mine []int32
		for j := i; j < len(parts); j += nf {
			mine = append(mine, parts[j])
		}
		from := make(map[int32]int64, len(mine))
		for _, p := range mine {
			from[p] = s.idx[p].nextOffset() // 0, or where a saved index ends
		}
		ch := make(chan fetched, 1)
		wg.Go(func() {
			defer close(ch)
			buildFetch(ctx, fetch, from, ch)
		})
		wg.Go(func() {
			for f := range ch {
				if f.err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = f.err
					}
					mu.Unlock()
					cancel()
					continue
				}
				for p, r := range f.res {
					next, _ := s.idx[p].index(s.topic, p, r, s.opts.idWindow)
					if r.bufs != nil {
						r.bufs.Release() // the index keeps copies of what it needs
					}
					mu.Lock()
					s.reportIndexed(ctx, p, next, f.target[p], len(r.recs)+len(r.parsed), progress)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("kafka: build the stream index of %s: %w", s.topic, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka: build the stream index of %s: %w", s.topic, context.Cause(ctx))
	}
	return nil
}

// buildFetch fetches (with fetch) the partitions of pending from their offsets up to
// their last stable offset as of its first fetch and sends each response
// to ch, until done or ctx ends.
func buildFetch(ctx context.Context, fetch func(context.Context, map[int32]int64) (map[int32]*partResult, error), pending map[int32]int64, ch chan<- fetched) {
	target := map[int32]int64{}
	idle := 0
	for len(pending) > 0 {
		offsets := maps.Clone(pending)
		res, err := retry(ctx, func() (map[int32]*partResult, error) {
			return fetch(ctx, offsets)
		})
		if err != nil {
			select {
			case ch <- fetched{err: err}:
			case <-ctx.Done():
			}
			return
		}
		progressed := false
		for p, r := range res {
			if _, ok := target[p]; !ok {
				target[p] = r.lso
			}
			if r.next > pending[p] {
				progressed = true
			}
			if r.next >= target[p] {
				delete(pending, p)
				progressed = true
			} else {
				pending[p] = r.next
			}
		}
		select {
		case ch <- fetched{res: res, target: maps.Clone(target)}:
		case <-ctx.Done():
			return
		}
		if progressed {
			idle = 0
		} else if len(pending) > 0 {
			// Nothing new below the target yet (a fetch raced a leader
			// change): back off briefly.
			idle++
			if ctxtime.Sleep(ctx, time.Duration(min(idle, 20))*time.Millisecond) != nil {
				return
			}
		}
	}
}
