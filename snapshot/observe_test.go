package snapshot_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/snapshot"
)

type writeRecorder struct {
	observe.Base
	mu     sync.Mutex
	writes []observe.SnapshotWrite
}

func (r *writeRecorder) ObserveSnapshotWrite(_ context.Context, w observe.SnapshotWrite) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, w)
}

// badStreamStore fails every save of stream "bad".
type badStreamStore struct{ snapshot.Store }

func (badStreamStore) Save(_ context.Context, s snapshot.Snapshot) error {
	if s.StreamID == "bad" {
		return errors.New("disk full")
	}
	return nil
}

// TestWriterObserver: saves (ok, failed, the last failed attempt) are
// reported with their snapshot.
func TestWriterObserver(t *testing.T) {
	rec := &writeRecorder{}
	w := snapshot.NewWriter(badStreamStore{}, snapshot.WithObserver(rec), snapshot.WithRetry(2, time.Millisecond, time.Millisecond),
		snapshot.WithLogger(slog.New(slog.DiscardHandler)))
	w.Enqueue(snapshot.Snapshot{StreamID: "good", Version: 3, Data: []byte("abc")})
	w.Enqueue(snapshot.Snapshot{StreamID: "bad", Version: 5})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var ok, failed, gaveUp int
	for _, x := range rec.writes {
		switch {
		case x.Err == nil && x.Stream == "good" && x.Version == 3 && x.Bytes == 3:
			ok++
		case x.Err != nil && x.Stream == "bad" && x.GaveUp:
			gaveUp++
		case x.Err != nil && x.Stream == "bad":
			failed++
		default:
			t.Errorf("unexpected report %+v", x)
		}
	}
	if ok != 1 || failed != 1 || gaveUp != 1 {
		t.Fatalf("ok %d, failed %d, gave up %d; want 1 each: %+v", ok, failed, gaveUp, rec.writes)
	}
}
