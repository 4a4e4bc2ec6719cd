package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// errLimit ends a scan once --limit events were printed.
var errLimit = errors.New("limit reached")

// runStream prints the events of one stream. It reads them the way the
// event store loads a stream (readByIndex): through the stream index of a
// read-only store of the topic, which fetches only the stream's own records.
// The index of the stream's partition (wire.Partition of the stream ID) is
// built first: from the whole partition, or with --index-dir from the index
// a store saved there, plus what was appended since. When the store finds a
// damaged record of the stream, the command reads the partition from its
// start to its last stable offset instead and prints every record whose key
// is the stream ID. It exits 1 when a record has a problem verify would
// report. With --to-version or --as-of it stops at the first event past the
// bound (the stream as it was then).
func runStream(ctx context.Context, e *env, args []string) int {
	id := args[0]
	if id == "" || len(id) > eventstore.MaxStreamIDLength {
		e.errorf("stream ID must be 1 to %d bytes", eventstore.MaxStreamIDLength)
		return exitUsage
	}
	if e.opts.toVersion < 0 {
		e.errorf("--to-version %d: versions start at 1 (0: all)", e.opts.toVersion)
		return exitUsage
	}
	var asOf time.Time
	if e.opts.asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, e.opts.asOf)
		if err != nil {
			e.errorf("--as-of %q: want an RFC 3339 time such as 2026-12-03T17:00:00Z", e.opts.asOf)
			return exitUsage
		}
		asOf = t
	}
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	defer cl.Close()
	rd := newReader(cl, e.topic)
	parts, err := rd.partitions()
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	p := wire.PartitionString(id, int32(len(parts)))
	var reg *registry
	if e.registry != "" {
		reg = newRegistry(e.registry, e.timeout, e.registryOpts...)
	}
	closeKeys, ok := useKeys(ctx, e, cl, reg)
	if !ok {
		return exitFailure
	}
	defer closeKeys()
	pr := newPrinter(e.stdout, e.topic, reg)
	// The stream's records get the checks verify makes (corrupt records,
	// version gaps and repeats, duplicate event IDs, undecodable payloads):
	// each problem is reported on stderr and makes the exit code 1, so a
	// script never takes a damaged stream for a good one.
	v := &verifier{topic: e.topic, nparts: int32(len(parts)), reg: reg,
		streams: map[partStream]*streamState{}, counts: map[string]int{}}
	var found []violation
	v.report = func(vl violation) { found = append(found, vl) }
	sr := &streamRead{e: e, id: id, p: p, asOf: asOf, pr: pr, v: v}
	code, scan := sr.byIndex(ctx, cl)
	if scan == "" {
		return sr.finish(code, found, "")
	}
	e.progressf("stream %s: %s; reading %s/%d to show every record", id, scan, e.topic, p)
	start, err := rd.offsets(ctx, []int32{p}, sarama.OffsetOldest)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	end, err := rd.offsets(ctx, []int32{p}, sarama.OffsetNewest)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	prog := newProgress(e, fmt.Sprintf("stream %s: reading %s/%d", id, e.topic, p), start, end)
	n, last := 0, int64(0)
	var life eventstore.StreamLife // what the stream's lifecycle markers say
	err = rd.scan(ctx, start, end, func(r rec) error {
		if string(r.key) != id {
			return nil
		}
		// The stream as of a version or a time: its records are in version
		// order in the partition, so the first one past the bound ends it.
		// A record that does not decode is printed (and flagged) anyway.
		if ev, err := wire.Decode(e.topic, r.partition, r.offset, r.key, r.value, r.headers, r.ts); err == nil {
			if (e.opts.toVersion > 0 && ev.Version > e.opts.toVersion) || (!asOf.IsZero() && ev.RecordedAt.After(asOf)) {
				return errLimit
			}
			last = ev.Version
			if m, ok := eventstore.ParseMarker(ev.Event); ok {
				life.Apply(m, ev.Version)
			}
		}
		n++
		if err := pr.print(r); err != nil {
			return err
		}
		if err := v.check(r); err != nil {
			return err
		}
		if e.opts.limit > 0 && n >= e.opts.limit {
			return errLimit
		}
		return nil
	}, prog.update)
	prog.finish()
	if err != nil && !errors.Is(err, errLimit) {
		if v.fatal != nil {
			e.errorf("stream %q: cannot check payloads: %v", id, v.fatal)
		} else {
			e.errorf("read stream %q from %s/%d: %v", id, e.topic, p, err)
		}
		return exitFailure
	}
	sr.n, sr.last, sr.life = n, last, life
	return sr.finish(exitOK, found, fmt.Sprintf(", offsets %d..%d", start[p], end[p]))
}
