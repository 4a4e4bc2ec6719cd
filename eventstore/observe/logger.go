package observe

import (
	"context"
	"log/slog"
)

// Logger returns an observer that logs the reports worth a line with l:
// failed appends and concurrency conflicts (Debug for conflicts, Warn for
// other errors), Update retries (Debug), failed loads and ignored or failed
// snapshots (Warn), serde and registry errors (Warn), projection handler
// errors (Debug per attempt), skipped and dead-lettered events (Warn) and
// finished catch-ups (Info). Successful appends, loads and handlers are
// not logged; use metrics for them. A nil l uses slog.Default().
func Logger(l *slog.Logger) Observer {
	if l == nil {
		l = slog.Default()
	}
	return logObserver{l: l}
}

type logObserver struct {
	Base
	l *slog.Logger
}

func (o logObserver) ObserveAppend(ctx context.Context, a Append) {
	switch {
	case a.Err == nil:
	case a.Conflict:
		o.l.DebugContext(ctx, "kafkaes: append conflict", slog.String("topic", a.Topic), slog.String("stream", a.Stream), slog.Any("error", a.Err))
	default:
		o.l.WarnContext(ctx, "kafkaes: append failed", slog.String("topic", a.Topic), slog.String("stream", a.Stream),
			slog.Int("events", a.Events), slog.Duration("duration", a.Duration), slog.Any("error", a.Err))
	}
}

func (o logObserver) ObserveRetry(ctx context.Context, r Retry) {
	o.l.DebugContext(ctx, "kafkaes: update conflicted, retrying", slog.String("aggregate", r.Aggregate), slog.String("stream", r.Stream),
		slog.Int("attempt", r.Attempt), slog.Duration("backoff", r.Backoff))
}

func (o logObserver) ObserveLoad(ctx context.Context, l Load) {
	switch {
	case l.Err != nil:
		o.l.WarnContext(ctx, "kafkaes: load failed", slog.String("aggregate", l.Aggregate), slog.String("stream", l.Stream), slog.Any("error", l.Err))
	case l.Snapshot == SnapshotIgnored || l.Snapshot == SnapshotError:
		o.l.WarnContext(ctx, "kafkaes: loaded without the snapshot", slog.String("aggregate", l.Aggregate), slog.String("stream", l.Stream),
			slog.String("snapshot", l.Snapshot.String()), slog.Int("events", l.Events))
	}
}

func (o logObserver) ObserveSnapshotWrite(ctx context.Context, w SnapshotWrite) {
	switch {
	case w.Dropped:
		o.l.WarnContext(ctx, "kafkaes: snapshot dropped, writer queue full", slog.String("stream", w.Stream), slog.Int64("version", w.Version))
	case w.GaveUp:
		o.l.WarnContext(ctx, "kafkaes: snapshot write failed for good", slog.String("stream", w.Stream), slog.Int64("version", w.Version), slog.Any("error", w.Err))
	}
}

func (o logObserver) ObserveSerde(ctx context.Context, s Serde) {
	if s.Err != nil {
		o.l.WarnContext(ctx, "kafkaes: serde error", slog.String("serde", s.Serde), slog.String("op", string(s.Op)), slog.String("type", s.Type), slog.Any("error", s.Err))
	}
}

func (o logObserver) ObserveRegistry(ctx context.Context, c RegistryCall) {
	if c.Err != nil && !c.NotFound {
		o.l.WarnContext(ctx, "kafkaes: schema registry call failed", slog.String("op", c.Op), slog.String("subject", c.Subject),
			slog.Duration("duration", c.Duration), slog.Any("error", c.Err))
	}
}

func (o logObserver) ObserveHandled(ctx context.Context, h Handled) {
	if h.Err != nil {
		o.l.DebugContext(ctx, "kafkaes: projection handler failed", slog.String("projection", h.Projection), slog.String("type", h.Type),
			slog.String("stream", h.Stream), slog.Int("partition", int(h.Partition)), slog.Int64("offset", h.Offset), slog.Any("error", h.Err))
	}
}

func (o logObserver) ObserveFailure(ctx context.Context, f Failure) {
	o.l.WarnContext(ctx, "kafkaes: projection gave up on an event", slog.String("projection", f.Projection), slog.String("action", f.Action),
		slog.String("type", f.Type), slog.String("stream", f.Stream), slog.Int("partition", int(f.Partition)), slog.Int64("offset", f.Offset),
		slog.Any("error", f.Err))
}

func (o logObserver) ObserveRebuild(ctx context.Context, r Rebuild) {
	if r.Finished {
		o.l.InfoContext(ctx, "kafkaes: projection caught up", slog.String("projection", r.Projection), slog.Int64("events", r.Done))
	}
}
