package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	eskafka "github.com/kafkaes/kafkaes/eventstore/kafka"
)

// streamRead is one run of the stream command: what it prints and checks
// with, and what it printed.
type streamRead struct {
	e    *env
	id   string
	p    int32 // the stream's partition
	asOf time.Time
	pr   *printer
	v    *verifier
	n    int   // records printed
	last int64 // version of the last event printed
	life eventstore.StreamLife
}

// byIndex reads the stream the way the event store loads it: through a
// read-only store of the topic (eskafka.WithReadOnly, with --index-dir its
// saved index), whose ReadStream catches the partition's index up and
// then fetches only the stream's own records. It prints and checks the
// events and returns the exit code. It returns scan, a reason, with
// nothing printed, when the stream's whole history is not what a load
// reads, so that only a scan of the partition shows it: the store reports
// a damaged record of the stream (a record that is not a valid event, an
// event out of place), or the stream has lifecycle markers (a deleted
// stream cannot be loaded; a truncated or recreated one loads from a later
// version).
func (sr *streamRead) byIndex(ctx context.Context, cl sarama.Client) (code int, scan string) {
	e := sr.e
	opts := []eskafka.Option{eskafka.WithReadOnly(),
		eskafka.WithLogger(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))}
	if e.opts.indexDir != "" {
		opts = append(opts, eskafka.WithIndexDir(e.opts.indexDir))
	}
	// Building the partition's index may read the whole partition: say
	// how far it got (every second, on stderr, unless --quiet).
	var prog *progress
	opts = append(opts, eskafka.WithProgress(func(pr eskafka.Progress) {
		if prog == nil {
			prog = newProgress(e, fmt.Sprintf("stream %s: indexing %s/%d", sr.id, e.topic, sr.p),
				map[int32]int64{pr.Partition: pr.Offset}, map[int32]int64{pr.Partition: pr.End})
		}
		prog.update(map[int32]int64{pr.Partition: pr.Offset})
	}))
	defer func() {
		if prog != nil {
			prog.finish()
		}
	}()
	st, err := eskafka.New(ctx, cl, e.topic, opts...)
	if err != nil {
		e.errorf("open topic %q to read stream %q: %v", e.topic, sr.id, err)
		return exitFailure, ""
	}
	defer st.Close()
	// The events are collected before anything is printed, so that a
	// damaged record found later prints nothing twice.
	var evs []eventstore.RecordedEvent
	for ev, err := range st.ReadStream(ctx, sr.id, 1) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if errors.Is(err, eventstore.ErrCorruptLog) {
			return 0, "the store's index reports a damaged record of the stream"
		}
		if errors.Is(err, eventstore.ErrStreamDeleted) {
			return 0, "the stream is deleted"
		}
		if errors.Is(err, eventstore.ErrStreamTruncated) {
			return 0, "the stream is truncated"
		}
		if err != nil {
			e.errorf("read stream %q from %s/%d: %v", sr.id, e.topic, sr.p, err)
			return exitFailure, ""
		}
		if len(evs) == 0 && ev.Version > 1 {
			return 0, fmt.Sprintf("loads of the stream start at version %d (it was truncated or recreated)", ev.Version)
		}
		// The stream as of a version or a time: the first event past the
		// bound ends it.
		if (e.opts.toVersion > 0 && ev.Version > e.opts.toVersion) || (!sr.asOf.IsZero() && ev.RecordedAt.After(sr.asOf)) {
			break
		}
		evs = append(evs, ev)
		if e.opts.limit > 0 && len(evs) >= e.opts.limit {
			break
		}
	}
	for _, ev := range evs {
		sr.n++
		sr.last = ev.Version
		if m, ok := eventstore.ParseMarker(ev.Event); ok {
			sr.life.Apply(m, ev.Version)
		}
		if err := sr.pr.printEvent(ev); err != nil {
			e.errorf("%v", err)
			return exitFailure, ""
		}
		if err := sr.v.checkEvent(eventRec(ev), ev); err != nil {
			e.errorf("stream %q: cannot check payloads: %v", sr.id, err)
			return exitFailure, ""
		}
	}
	return exitOK, ""
}

// finish reports what the printed records say (no events, a missing
// version, the stream's lifecycle, the problems found) and returns the
// exit code; where says where an empty stream was looked for.
func (sr *streamRead) finish(code int, found []violation, where string) int {
	e, id, p, n, last, life := sr.e, sr.id, sr.p, sr.n, sr.last, sr.life
	if code != exitOK {
		return code
	}
	if n == 0 {
		if !sr.asOf.IsZero() {
			e.errorf("stream %q has no events recorded at or before %s in topic %q (partition %d)", id, sr.asOf.Format(time.RFC3339Nano), e.topic, p)
			return exitViolation
		}
		e.errorf("stream %q has no events in topic %q (partition %d%s)", id, e.topic, p, where)
		return exitViolation
	}
	if e.opts.toVersion > 0 && last < e.opts.toVersion && (e.opts.limit == 0 || n < e.opts.limit) && len(found) == 0 {
		e.errorf("stream %q has %d events, no version %d (all printed)", id, last, e.opts.toVersion)
		return exitViolation
	}
	// The lifecycle markers (printed with "marker") change what loads of
	// the stream read; say so, as of the last record printed.
	switch {
	case life.Deleted(last):
		fmt.Fprintf(e.stderr, "kafkaes: stream %q is deleted (delete marker at version %d): loads of it fail until it is recreated; its events above are still in the log\n", id, last)
	case life.TruncatedBefore > life.Start():
		fmt.Fprintf(e.stderr, "kafkaes: stream %q is truncated before version %d: loads read from a snapshot at version %d or later; the earlier events above are still in the log\n", id, life.TruncatedBefore, life.TruncatedBefore-1)
	case life.DeletedAt > 0:
		fmt.Fprintf(e.stderr, "kafkaes: stream %q was deleted at version %d and recreated: loads read from version %d\n", id, life.DeletedAt, life.Start())
	}
	if len(found) > 0 {
		for _, vl := range found {
			printViolation(e.stderr, vl, false)
		}
		e.errorf("stream %q: %s found (see above; 'kafkaes verify' checks the whole topic)", id, plural(len(found), "problem", "problems"))
		return exitViolation
	}
	return exitOK
}
