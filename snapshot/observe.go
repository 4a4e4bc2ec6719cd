package snapshot

import (
	"context"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// WithObserver makes the [Writer] report every save attempt (duration,
// error, whether it gave up) and every snapshot dropped because the queue
// was full to o, when o implements observe.SnapshotObserver. A repository
// with aggregate.WithObserver passes its observer on by itself. The default
// reports nothing. NewWriter panics with an error matching
// observe.ErrObserver when o would silently miss reports (see
// observe.Check).
func WithObserver(o observe.Observer) Option { return func(opts *options) { opts.Observer = o } }

func (w *Writer) observeSave(s Snapshot, start time.Time, err error, gaveUp bool) {
	w.obs.ObserveSnapshotWrite(context.Background(), observe.SnapshotWrite{
		Stream: s.StreamID, Version: s.Version, Bytes: len(s.Data), Duration: time.Since(start), Err: err, GaveUp: gaveUp,
	})
}

func (w *Writer) observeDrop(s Snapshot) {
	if w.obs != nil {
		w.obs.ObserveSnapshotWrite(context.Background(), observe.SnapshotWrite{
			Stream: s.StreamID, Version: s.Version, Bytes: len(s.Data), Dropped: true,
		})
	}
}
