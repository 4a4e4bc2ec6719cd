package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound means the store holds no snapshot for the stream. Loading
// then rebuilds the aggregate from all its events.
var ErrNotFound = errors.New("snapshot: not found")

// Snapshot is the serialized state of one aggregate after a given event.
type Snapshot struct {
	// StreamID is the event stream the snapshot belongs to.
	StreamID string
	// Version is the stream version the snapshot covers: the state is the
	// result of applying events 1..Version. It is at least 1.
	Version int64
	// EventID is the ID of the event at Version, when known. A loader
	// compares it with the stored event to detect a snapshot that does not
	// belong to the stream as it is now (for example after the events topic
	// was recreated). Empty means "not recorded".
	EventID string
	// Type is the serde type name of the state in Data.
	Type string
	// SchemaVersion is the aggregate's snapshot version when the snapshot
	// was taken. A loader that expects another version ignores the
	// snapshot and replays every event instead.
	SchemaVersion int
	// Data is the serialized state.
	Data []byte
	// TakenAt is when the snapshot was taken (UTC; the Kafka store keeps
	// microseconds, see docs/wire-format.md#times).
	TakenAt time.Time
}

// Validate reports what is wrong with s, or nil: an empty stream ID or
// type, or a version below 1.
func (s Snapshot) Validate() error {
	switch {
	case s.StreamID == "":
		return errors.New("snapshot: empty stream ID")
	case s.Version < 1:
		return fmt.Errorf("snapshot: stream %q: version %d is below 1; a snapshot covers at least one event", s.StreamID, s.Version)
	case s.Type == "":
		return fmt.Errorf("snapshot: stream %q: empty state type name", s.StreamID)
	}
	return nil
}

// Store keeps the latest snapshot of every stream. Implementations are safe
// for concurrent use.
type Store interface {
	// Load returns the latest snapshot of the stream, or an error matching
	// [ErrNotFound] when there is none.
	Load(ctx context.Context, streamID string) (Snapshot, error)
	// Save stores s as the stream's latest snapshot. A store may keep an
	// older snapshot instead when s.Version is lower than the one it has.
	Save(ctx context.Context, s Snapshot) error
}
