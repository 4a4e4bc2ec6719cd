package process

import (
	"context"
	"maps"
	"sync"

	"github.com/kafkaes/kafkaes/eventstore"
)

// MemoryCommitter is a [Committer] that appends to a store that can append
// to several streams atomically (the memory store, or the Kafka store in
// a single process) and keeps the position in memory. Appending and
// moving the position happen under one lock, so within a process every
// event's effects happen exactly once; the position is lost with the
// process, so across restarts the manager starts from the beginning (use
// kafkaprojection.ProcessCommitter for that). Create it with
// [NewMemoryCommitter].
type MemoryCommitter struct {
	store eventstore.MultiAppender
	mu    sync.Mutex
	pos   eventstore.Checkpoint
}

// NewMemoryCommitter returns a committer that appends to store.
func NewMemoryCommitter(store eventstore.MultiAppender) *MemoryCommitter {
	return &MemoryCommitter{store: store, pos: eventstore.Checkpoint{}}
}

// Start implements [Committer].
func (c *MemoryCommitter) Start(_ context.Context, partitions []int32) (eventstore.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if partitions == nil {
		return maps.Clone(c.pos), nil
	}
	out := eventstore.Checkpoint{}
	for _, p := range partitions {
		if off, ok := c.pos[p]; ok {
			out[p] = off
		}
	}
	return out, nil
}

// Commit implements [Committer].
func (c *MemoryCommitter) Commit(ctx context.Context, partition int32, next int64, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	results := make([]eventstore.AppendResult, len(appends))
	if writes(appends) {
		var err error
		if results, err = c.store.AppendMulti(ctx, appends...); err != nil {
			return nil, err
		}
	}
	if next > c.pos[partition] {
		c.pos[partition] = next
	}
	return results, nil
}

// writes reports whether any entry has events.
func writes(appends []eventstore.StreamAppend) bool {
	for _, a := range appends {
		if len(a.Events) > 0 {
			return true
		}
	}
	return false
}
