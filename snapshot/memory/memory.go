package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/kafkaes/kafkaes/snapshot"
)

// Store is an in-memory snapshot store, safe for concurrent use. The zero
// value is not usable; create one with [New].
type Store struct {
	mu    sync.RWMutex
	snaps map[string]snapshot.Snapshot
	saves int64
	loads int64
}

// New returns an empty store.
func New() *Store { return &Store{snaps: map[string]snapshot.Snapshot{}} }

// Load returns a copy of the stream's latest snapshot, or an error matching
// [snapshot.ErrNotFound].
func (s *Store) Load(ctx context.Context, streamID string) (snapshot.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return snapshot.Snapshot{}, err
	}
	s.mu.Lock()
	s.loads++
	snap, ok := s.snaps[streamID]
	s.mu.Unlock()
	if !ok {
		return snapshot.Snapshot{}, fmt.Errorf("stream %q: %w", streamID, snapshot.ErrNotFound)
	}
	snap.Data = bytes.Clone(snap.Data)
	return snap, nil
}

// Save stores a copy of snap unless the store already holds a snapshot of
// the stream with a higher version. It rejects an invalid snapshot (see
// [snapshot.Snapshot.Validate]).
func (s *Store) Save(ctx context.Context, snap snapshot.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := snap.Validate(); err != nil {
		return err
	}
	snap.Data = bytes.Clone(snap.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if old, ok := s.snaps[snap.StreamID]; ok && old.Version > snap.Version {
		return nil
	}
	s.snaps[snap.StreamID] = snap
	return nil
}

// Put stores snap as the stream's snapshot unconditionally, even when it is
// older than the current one or invalid. Tests use it to plant outdated,
// foreign or broken snapshots.
func (s *Store) Put(snap snapshot.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps[snap.StreamID] = snap
}

// Delete forgets the stream's snapshot.
func (s *Store) Delete(streamID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.snaps, streamID)
}

// Len returns the number of streams with a snapshot.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.snaps)
}

// Counts returns how many Load and Save calls the store served.
func (s *Store) Counts() (loads, saves int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.loads, s.saves
}
