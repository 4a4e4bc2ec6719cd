package snapshot

import "time"

// Info describes a save that just succeeded, for a [Policy] to decide
// whether to take a snapshot of the aggregate's new state.
type Info struct {
	// StreamID is the stream that was appended to.
	StreamID string
	// Version is the stream version after the save.
	Version int64
	// PreviousVersion is the stream version before the save.
	PreviousVersion int64
	// LastSnapshotVersion is the version of the latest snapshot the
	// repository knows of for the stream; 0 when it knows of none (none was
	// taken, or the one found could not be used).
	LastSnapshotVersion int64
	// LastSnapshotAt is when that snapshot was taken; zero when unknown.
	LastSnapshotAt time.Time
	// Now is the time of the decision.
	Now time.Time
}

// Policy decides after each successful save whether to snapshot the
// aggregate. Policies must be cheap and safe for concurrent use; they run
// on the command path.
type Policy interface {
	ShouldSnapshot(Info) bool
}

// Custom is a [Policy] made of a function.
type Custom func(Info) bool

// ShouldSnapshot calls f.
func (f Custom) ShouldSnapshot(i Info) bool { return f(i) }

// EveryN takes a snapshot once n or more events have been recorded since
// the last known snapshot (or since the start of the stream). n below 1
// means 1 (a snapshot after every save).
func EveryN(n int64) Policy {
	n = max(n, 1)
	return Custom(func(i Info) bool { return i.Version-i.LastSnapshotVersion >= n })
}

// Every takes a snapshot when the last known snapshot is older than d, or
// when no snapshot is known (so every stream gets a snapshot on its first
// save), provided there are events after the last snapshot. Combine it with
// [All] and [EveryN] to avoid snapshots of short or quiet streams:
// All(EveryN(100), Every(time.Hour)).
func Every(d time.Duration) Policy {
	return Custom(func(i Info) bool {
		if i.Version <= i.LastSnapshotVersion {
			return false
		}
		return i.LastSnapshotAt.IsZero() || i.Now.Sub(i.LastSnapshotAt) >= d
	})
}

// Any takes a snapshot when at least one of the policies says so.
func Any(policies ...Policy) Policy {
	return Custom(func(i Info) bool {
		for _, p := range policies {
			if p.ShouldSnapshot(i) {
				return true
			}
		}
		return false
	})
}

// All takes a snapshot when every one of the policies says so (and at
// least one policy is given).
func All(policies ...Policy) Policy {
	return Custom(func(i Info) bool {
		for _, p := range policies {
			if !p.ShouldSnapshot(i) {
				return false
			}
		}
		return len(policies) > 0
	})
}

// Never never takes a snapshot; a repository with Never still loads the
// snapshots that other writers (for example a batch job) took.
func Never() Policy { return Custom(func(Info) bool { return false }) }
