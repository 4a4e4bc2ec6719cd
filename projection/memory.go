package projection

import (
	"context"
	"fmt"
	"sync"

	"github.com/kafkaes/kafkaes/eventstore"
)

// MemoryCheckpoints is an in-memory [CheckpointStore], for tests and for
// in-memory read models (which are lost with the process anyway). Its
// transactions only store the checkpoint: the view's own changes are not
// rolled back. The zero value is ready to use.
type MemoryCheckpoints struct {
	mu  sync.Mutex
	cps map[string]eventstore.Checkpoint
}

// Load returns a copy of the projection's checkpoint.
func (m *MemoryCheckpoints) Load(_ context.Context, projection string) (eventstore.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cp, ok := m.cps[projection]; ok {
		return cp.Clone(), nil
	}
	return nil, nil
}

// Begin starts a transaction; ctx is returned unchanged.
func (m *MemoryCheckpoints) Begin(ctx context.Context, projection string, _ int32) (context.Context, Txn, error) {
	return ctx, &memTxn{m: m, name: projection}, nil
}

type memTxn struct {
	m    *MemoryCheckpoints
	name string
	done bool
}

func (t *memTxn) Commit(_ context.Context, partition int32, from, next int64) error {
	if t.done {
		return fmt.Errorf("projection: transaction already finished")
	}
	t.done = true
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.m.cps == nil {
		t.m.cps = map[string]eventstore.Checkpoint{}
	}
	cp := t.m.cps[t.name]
	if cp == nil {
		cp = eventstore.Checkpoint{}
		t.m.cps[t.name] = cp
	}
	if cp[partition] != from {
		return fmt.Errorf("%w: partition %d is at %d, the batch started at %d", ErrCheckpointMoved, partition, cp[partition], from)
	}
	cp[partition] = next
	return nil
}

func (t *memTxn) Rollback() error { t.done = true; return nil }

// IdempotencyStore remembers the last version of each stream a projection
// applied, so that an at-least-once projection ([WithIdempotency]) can drop
// events it has seen before. Event versions in a stream are 1, 2, 3...
// in log order, so "version <= last applied" identifies a repeat.
type IdempotencyStore interface {
	// LastVersion returns the last version applied for stream (0: none).
	LastVersion(ctx context.Context, projection, stream string) (int64, error)
	// SetLastVersion records that version of stream was applied.
	SetLastVersion(ctx context.Context, projection, stream string, version int64) error
}

// MemoryVersions is an in-memory [IdempotencyStore]. The zero value is
// ready to use.
type MemoryVersions struct {
	mu sync.Mutex
	v  map[[2]string]int64
}

// LastVersion returns the last recorded version of stream.
func (m *MemoryVersions) LastVersion(_ context.Context, projection, stream string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v[[2]string{projection, stream}], nil
}

// SetLastVersion records version for stream.
func (m *MemoryVersions) SetLastVersion(_ context.Context, projection, stream string, version int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.v == nil {
		m.v = map[[2]string]int64{}
	}
	m.v[[2]string{projection, stream}] = version
	return nil
}
