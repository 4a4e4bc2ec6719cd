package kafka

import (
	"log/slog"
	"time"
)

// Option configures a [Store].
type Option func(*options)

type options struct {
	createPartitions  int32
	createReplication int16
	create            bool
	logger            *slog.Logger
	refresh           time.Duration
	progress          func(Progress)
}

// WithCreateTopic makes [New] create the topic, compacted, with the given
// partitions and replication factor when it does not exist. By default the
// topic must exist. Production needs a replication factor of 3.
func WithCreateTopic(partitions int32, replicationFactor int16) Option {
	return func(o *options) {
		o.create, o.createPartitions, o.createReplication = true, max(partitions, 1), max(replicationFactor, 1)
	}
}

// WithLogger sets the logger for start-up progress and skipped records
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRefreshInterval sets how often the store polls the topic for
// snapshots written by other instances (default 1s). Zero or less turns
// polling off: the index then only learns of the store's own writes and of
// compacted-away records met by loads.
func WithRefreshInterval(d time.Duration) Option { return func(o *options) { o.refresh = d } }

// Progress reports how far [New] has read the topic while building its
// index.
type Progress struct {
	// Records is the number of records read so far.
	Records int64
	// Remaining is the number of offsets still to read, summed over the
	// partitions (an upper bound: compaction leaves gaps).
	Remaining int64
	// Streams is the number of streams indexed so far.
	Streams int
}

// WithProgress calls f after every fetch while [New] builds the index.
func WithProgress(f func(Progress)) Option { return func(o *options) { o.progress = f } }
