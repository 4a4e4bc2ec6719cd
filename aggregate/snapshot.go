package aggregate

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/snapshot"
)

// SnapshotVersioner is implemented by aggregates that version the shape of
// their snapshot state. Bump the number whenever the state changes in a way
// the serde cannot read across (a field that changes meaning, a different
// Apply that would give another state for the same events): snapshots taken
// with another number are then ignored and the aggregate is rebuilt from
// its events (and a fresh snapshot taken by the policy). Aggregates without
// the method have snapshot version 0.
type SnapshotVersioner interface {
	SnapshotVersion() int
}

// Snapshotter is implemented by aggregates whose snapshot state is not the
// aggregate value itself. SnapshotState returns the state to encode (a
// value of a type registered in the serde's registry, not sharing mutable
// memory with the aggregate); RestoreSnapshot sets the aggregate's state
// from a decoded value and returns an error when it cannot (the snapshot is
// then ignored and the aggregate rebuilt from its events).
//
// Without it, the repository encodes the aggregate itself (*T's element
// type must be registered in the serde's registry; the embedded [Root] is
// not encoded) and restores it by assigning the decoded value to *T, so
// fields the serde does not encode (unexported ones, such as dependencies
// set by newT) are zero after a load from a snapshot; implement Snapshotter
// to keep them. serde/avro derives a schema for the aggregate itself: the
// embedded Root adds no fields, other embedded structs are flattened.
// [NewRepository] checks that the state can be encoded, when the serde can
// tell (serde.TypeChecker).
type Snapshotter interface {
	SnapshotState() any
	RestoreSnapshot(state any) error
}

// WithSnapshots makes the repository load aggregates from their latest
// snapshot in store plus the events recorded after it, and take a snapshot
// after a successful save when policy says so. opts configure the
// background writer (queue size, retries, logger; see [snapshot.Writer]);
// its logger defaults to the repository's.
//
// The state is encoded with the repository's serde, on the command path
// (CPU only, and only when the policy fires); the write to store happens in
// the background, so a slow or failing snapshot store neither slows nor
// fails commands. A snapshot that cannot be used on load (another
// [SnapshotVersioner] number, a type that does not decode into the
// aggregate, a version ahead of the stream or an event ID that does not
// match the stored event) is ignored with a log line and counted in
// [Repository.SnapshotStats]; the aggregate is then rebuilt from every
// event, so a load never returns a wrong state because of a snapshot.
func WithSnapshots(store snapshot.Store, policy snapshot.Policy, opts ...snapshot.Option) Option {
	return func(c *config) {
		c.snapshots = &snapshotConfig{store: store, policy: policy, opts: opts}
	}
}

// ErrSnapshotState means the snapshot state of a repository's aggregate
// cannot be encoded by its serde (see [NewRepository]).
var ErrSnapshotState = errors.New("aggregate: snapshot state cannot be encoded")

// checkSnapshotState asks the serde whether the snapshot state can be
// encoded. It returns nil when the serde cannot tell (it does not
// implement serde.TypeChecker) or the state's type is not known before a
// command ran (SnapshotState of a zero aggregate returns nil or panics).
func (r *Repository[T]) checkSnapshotState() error {
	c, ok := r.serde.(serde.TypeChecker)
	if !ok {
		return nil
	}
	a := r.newT()
	st := reflect.TypeOf(a)
	if sn, ok := any(a).(Snapshotter); ok {
		st = stateType(sn)
		if st == nil {
			return nil
		}
	}
	if err := c.CheckType(st); err != nil {
		how := "register it in the serde's registry (serde.Register), or implement aggregate.Snapshotter with a state type the serde can encode"
		if _, ok := any(a).(Snapshotter); ok {
			how = "register it in the serde's registry (serde.Register) and make sure the serde can encode it"
		}
		return fmt.Errorf("%w: %s with snapshots: state type %v: %w; %s", ErrSnapshotState, r.cfg.aggName, st, err, how)
	}
	return nil
}

// stateType returns the type of the state a zero aggregate's
// SnapshotState returns, or nil if that is unknown.
func stateType(sn Snapshotter) (t reflect.Type) {
	defer func() {
		if recover() != nil {
			t = nil // SnapshotState needs a loaded aggregate: cannot check now
		}
	}()
	return reflect.TypeOf(sn.SnapshotState())
}

type snapshotConfig struct {
	store  snapshot.Store
	policy snapshot.Policy
	opts   []snapshot.Option
}

// knownSnapshotsMax bounds the table of the latest snapshot taken or loaded
// per stream, which feeds [snapshot.Info] for saves outside Update.
const knownSnapshotsMax = 4096

// snapshots is a repository's snapshot machinery.
type snapshots struct {
	store  snapshot.Store
	policy snapshot.Policy
	writer *snapshot.Writer
	logger *slog.Logger
	now    func() time.Time

	hits, misses, ignored, loadErrors, taken, encodeErrors atomic.Int64
	encodeErrorLogged                                      atomic.Bool

	mu    sync.Mutex
	known map[string]snapMark
}

// snapMark is what a repository knows about a stream's latest snapshot.
type snapMark struct {
	version int64
	at      time.Time
}

func newSnapshots(c *snapshotConfig, logger *slog.Logger) *snapshots {
	opts := append([]snapshot.Option{snapshot.WithLogger(logger)}, c.opts...)
	policy := c.policy
	if policy == nil {
		policy = snapshot.Never()
	}
	return &snapshots{
		store: c.store, policy: policy, writer: snapshot.NewWriter(c.store, opts...),
		logger: logger, now: time.Now, known: map[string]snapMark{},
	}
}

// mark returns the best of m and what the repository remembers of stream.
func (s *snapshots) mark(stream string, m snapMark) snapMark {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.known[stream]; ok && k.version > m.version {
		return k
	}
	return m
}

func (s *snapshots) remember(stream string, m snapMark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.known[stream]; ok && k.version >= m.version {
		return
	}
	if len(s.known) >= knownSnapshotsMax {
		for k := range s.known { // evict an arbitrary entry
			delete(s.known, k)
			break
		}
	}
	s.known[stream] = m
}

// SnapshotStats counts what a repository's snapshots did since it was
// created. All counts are zero without [WithSnapshots].
type SnapshotStats struct {
	// Hits counts loads served from a snapshot (plus the events after it).
	Hits int64
	// Misses counts loads that found no snapshot.
	Misses int64
	// Ignored counts snapshots found but not used (another snapshot
	// version, undecodable state, ahead of the stream or of another
	// stream history); each is logged and the aggregate rebuilt from its
	// events.
	Ignored int64
	// LoadErrors counts failed snapshot store reads; the aggregate was
	// rebuilt from its events.
	LoadErrors int64
	// Taken counts snapshots taken and handed to the writer.
	Taken int64
	// EncodeErrors counts snapshots that could not be encoded (for
	// example: the state type is not registered in the serde).
	EncodeErrors int64
	// Writer counts the background writes.
	Writer snapshot.WriterStats
}

// SnapshotStats returns the repository's snapshot counters.
func (r *Repository[T]) SnapshotStats() SnapshotStats {
	s := r.snaps
	if s == nil {
		return SnapshotStats{}
	}
	return SnapshotStats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Ignored: s.ignored.Load(), LoadErrors: s.loadErrors.Load(),
		Taken: s.taken.Load(), EncodeErrors: s.encodeErrors.Load(), Writer: s.writer.Stats(),
	}
}

// FlushSnapshots waits until the snapshots taken so far have been written
// (or given up after their retries), or until ctx is done. Call it before
// shutting down to keep the latest snapshots; without [WithSnapshots] it
// returns nil at once.
func (r *Repository[T]) FlushSnapshots(ctx context.Context) error {
	if r.snaps == nil {
		return nil
	}
	return r.snaps.writer.Flush(ctx)
}

// snapshotOutcome says how a load used snapshots (for stats and
// observers).
type snapshotOutcome uint8

const (
	snapshotNone    snapshotOutcome = iota // no snapshot store
	snapshotHit                            // started from a snapshot
	snapshotMiss                           // the stream had no snapshot
	snapshotIgnored                        // a snapshot was found but not usable
	snapshotError                          // the snapshot store failed
)

// loadInfo describes a load.
type loadInfo struct {
	// mark is what is known about the stream's latest snapshot.
	mark snapMark
	// events is the number of events read (0 means the aggregate does not
	// exist); with a snapshot, the covered event read to verify it counts.
	events  int
	outcome snapshotOutcome
}

// load returns the aggregate rebuilt from its latest usable snapshot and
// the events after it, or from all its events.
func (r *Repository[T]) load(ctx context.Context, id string) (T, loadInfo, error) {
	var zero T
	if r.snaps == nil {
		a := r.New(id)
		n, err := r.replay(ctx, a, 1)
		return a, loadInfo{events: n}, err
	}
	stream := r.cfg.streamID(id)
	a, info, err := r.loadFromSnapshot(ctx, id, stream)
	if err != nil {
		return zero, loadInfo{}, err
	}
	if info.outcome != snapshotHit {
		a = r.New(id)
		if info.events, err = r.replay(ctx, a, 1); err != nil {
			return zero, loadInfo{}, err
		}
	}
	info.mark = r.snaps.mark(stream, info.mark)
	return a, info, nil
}

// loadFromSnapshot tries the latest snapshot. An outcome other than
// snapshotHit means "rebuild from all events"; err is only for errors that
// a full replay would meet too (cancellation, the event store failing, an
// undecodable event).
func (r *Repository[T]) loadFromSnapshot(ctx context.Context, id, stream string) (a T, info loadInfo, err error) {
	s := r.snaps
	snap, err := s.store.Load(ctx, stream)
	switch {
	case errors.Is(err, snapshot.ErrNotFound):
		s.misses.Add(1)
		return a, loadInfo{outcome: snapshotMiss}, nil
	case err != nil:
		if ctx.Err() != nil {
			return a, info, ctx.Err()
		}
		s.loadErrors.Add(1)
		s.logger.WarnContext(ctx, "aggregate: snapshot store failed, rebuilding from events",
			slog.String("stream", stream), slog.Any("error", err))
		return a, loadInfo{outcome: snapshotError}, nil
	}
	ignored := loadInfo{outcome: snapshotIgnored}
	a = r.New(id)
	if reason := r.restore(ctx, a, stream, snap); reason != "" {
		r.ignoreSnapshot(ctx, stream, snap, reason)
		return a, ignored, nil
	}
	// Read from the snapshot's own version: the event there must exist
	// (else the snapshot is ahead of the stream) and carry the recorded ID.
	root := a.aggregateRoot()
	verified, n := false, 0
	for rec, err := range readCovering(ctx, r.store, stream, snap) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return a, info, fmt.Errorf("aggregate %q: read events: %w", id, err)
		}
		if !verified {
			if rec.Version != snap.Version {
				break
			}
			if snap.EventID != "" && rec.ID != snap.EventID {
				r.ignoreSnapshot(ctx, stream, snap, fmt.Sprintf("the stream's event %d has ID %s, the snapshot covers event ID %s (another history of the stream)", rec.Version, rec.ID, snap.EventID))
				return a, ignored, nil
			}
			verified = true
			n++ // the aggregate exists: count the covered event, so Load never says "not found"
			continue
		}
		if eventstore.IsMarker(rec.Type) {
			root.version = rec.Version
			n++
			continue
		}
		ev, err := r.serde.Unmarshal(ctx, rec.Type, rec.Data)
		if err != nil {
			return a, info, fmt.Errorf("aggregate %q: decode event %s (version %d, position %s): %w", id, rec.Type, rec.Version, rec.Position, err)
		}
		a.Apply(ev)
		root.version = rec.Version
		n++
	}
	if !verified {
		r.ignoreSnapshot(ctx, stream, snap, fmt.Sprintf("the stream has no event %d (the snapshot is ahead of the stream)", snap.Version))
		return a, ignored, nil
	}
	s.hits.Add(1)
	return a, loadInfo{mark: snapMark{version: snap.Version, at: snap.TakenAt}, events: n, outcome: snapshotHit}, nil
}

// readCovering reads stream from the version snap covers, whose event a
// load checks against the snapshot. When the stream is truncated right
// after it (eventstore.Lifecycle.TruncateStream before snap.Version+1),
// that event is no longer read: it yields a stand-in for it (its version
// and the snapshot's event ID; a truncation exactly there is taken as the
// stream's agreement with the snapshot) and then the events after it.
// Any other truncation error is the read's.
func readCovering(ctx context.Context, store eventstore.Store, stream string, snap snapshot.Snapshot) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for rec, err := range store.ReadStream(ctx, stream, snap.Version) {
			var te *eventstore.StreamTruncatedError
			if errors.As(err, &te) && te.Before == snap.Version+1 {
				standIn := eventstore.RecordedEvent{StreamID: stream, Version: snap.Version}
				standIn.ID = snap.EventID
				if !yield(standIn, nil) {
					return
				}
				for rec, err := range store.ReadStream(ctx, stream, snap.Version+1) {
					if !yield(rec, err) {
						return
					}
				}
				return
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

func (r *Repository[T]) ignoreSnapshot(ctx context.Context, stream string, snap snapshot.Snapshot, reason string) {
	r.snaps.ignored.Add(1)
	r.snaps.logger.InfoContext(ctx, "aggregate: snapshot ignored, rebuilding from events",
		slog.String("stream", stream), slog.Int64("snapshot_version", snap.Version),
		slog.String("snapshot_type", snap.Type), slog.Int("snapshot_schema_version", snap.SchemaVersion),
		slog.String("reason", reason))
}

// restore sets a's state from snap, or returns why it cannot.
func (r *Repository[T]) restore(ctx context.Context, a T, stream string, snap snapshot.Snapshot) (reason string) {
	if snap.StreamID != stream {
		return fmt.Sprintf("the snapshot store returned a snapshot of stream %q", snap.StreamID)
	}
	if snap.Version < 1 {
		return fmt.Sprintf("invalid snapshot version %d", snap.Version)
	}
	if want := snapshotVersion(a); snap.SchemaVersion != want {
		return fmt.Sprintf("snapshot version %d, the aggregate's SnapshotVersion is %d", snap.SchemaVersion, want)
	}
	v, err := r.serde.Unmarshal(ctx, snap.Type, snap.Data)
	if err != nil {
		return "cannot decode the state: " + err.Error()
	}
	root := a.aggregateRoot()
	id := root.id
	if sn, ok := any(a).(Snapshotter); ok {
		if err := sn.RestoreSnapshot(v); err != nil {
			return "RestoreSnapshot: " + err.Error()
		}
	} else {
		av := reflect.ValueOf(a)
		if av.Kind() != reflect.Pointer || av.IsNil() || reflect.TypeOf(v) != av.Type().Elem() {
			return fmt.Sprintf("the state decodes to %T, not %v; implement aggregate.Snapshotter to restore other types", v, av.Type().Elem())
		}
		av.Elem().Set(reflect.ValueOf(v))
		root = a.aggregateRoot()
	}
	root.id, root.version, root.changes = id, snap.Version, nil
	return ""
}

func snapshotVersion(a any) int {
	if v, ok := a.(SnapshotVersioner); ok {
		return v.SnapshotVersion()
	}
	return 0
}

// afterSave takes a snapshot of a, just saved from version prev to its
// stored version with lastEventID the ID of its last event, when the policy
// says so.
func (r *Repository[T]) afterSave(ctx context.Context, a T, prev int64, lastEventID string, mark snapMark) {
	s := r.snaps
	root := a.aggregateRoot()
	stream := r.cfg.streamID(root.id)
	mark = s.mark(stream, mark)
	now := s.now()
	info := snapshot.Info{StreamID: stream, Version: root.version, PreviousVersion: prev,
		LastSnapshotVersion: mark.version, LastSnapshotAt: mark.at, Now: now}
	if !s.policy.ShouldSnapshot(info) {
		return
	}
	var state any = a
	if sn, ok := any(a).(Snapshotter); ok {
		state = sn.SnapshotState()
	}
	name, data, err := r.serde.Marshal(ctx, state)
	if err != nil {
		s.encodeErrors.Add(1)
		level := slog.LevelDebug
		if !s.encodeErrorLogged.Swap(true) {
			level = slog.LevelError
		}
		s.logger.Log(ctx, level, "aggregate: cannot encode snapshot state; no snapshots are taken until this is fixed",
			slog.String("stream", stream), slog.String("state_type", fmt.Sprintf("%T", state)), slog.Any("error", err))
		return
	}
	s.taken.Add(1)
	s.writer.Enqueue(snapshot.Snapshot{
		StreamID: stream, Version: root.version, EventID: lastEventID, Type: name,
		SchemaVersion: snapshotVersion(a), Data: data, TakenAt: now.UTC(),
	})
	s.remember(stream, snapMark{version: root.version, at: now})
}
