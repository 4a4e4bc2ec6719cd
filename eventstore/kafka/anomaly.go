package kafka

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Version anomalies in ReadAll and Subscribe.
//
// A record that decodes as an event can still be out of place: a version
// that is not the stream's next one (a gap, a duplicate, an event written
// around kafkaes after the stream's log became corrupt). The index judges
// every committed record of the partition in offset order and keeps only
// the events at their place (applyCommitted), so an event the index has
// read past but does not know is such an anomaly. ReadAll and Subscribe
// yield it with a *CorruptRecordError (matching eventstore.ErrCorruptLog),
// together with the decoded event, rather than hand it to the caller as a
// valid event.

// indexKnows reports whether the index has read partition p past offset
// (covered) and whether it holds the record at offset as an event of
// stream key (known).
func (s *Store) indexKnows(p int32, key []byte, offset int64) (known, covered bool) {
	return s.idx[p].knows(key, offset)
}

// checkPlace returns a *CorruptRecordError when the event ev, read at
// offset of partition p, is not at its place in its stream, nil when it is
// or when the index cannot tell (it could not catch up: the read goes on,
// and the record is judged like any other by the next load of its
// stream). When the index has not read that far yet, the partition is
// caught up first (the record is committed, so the catch-up reaches it).
func (s *Store) checkPlace(ctx context.Context, p int32, offset int64, key []byte, ev eventstore.RecordedEvent) error {
	known, covered := s.indexKnows(p, key, offset)
	if !covered {
		if err := s.catchUp(ctx, []int32{p}, false, nil); err != nil {
			return nil
		}
		known, covered = s.indexKnows(p, key, offset)
	}
	if known || !covered {
		return nil
	}
	return &wire.DecodeError{Topic: s.topic, Partition: p, Offset: offset,
		Reason: fmt.Sprintf("event version %d of stream %q is out of place: it does not follow the stream's events before it "+
			"(a gap, a duplicate, or an event written outside kafkaes)", ev.Version, ev.StreamID)}
}

// corruptAt is what ReadAll and Subscribe yield with the error of a record
// that is not a valid event: its position and, when the key is a valid
// stream ID, its stream, so that a reader can step past it (see
// [eventstore.Store.ReadAll]).
func corruptAt(p int32, offset int64, key []byte) eventstore.RecordedEvent {
	ev := eventstore.RecordedEvent{Position: eventstore.Position{Partition: p, Offset: offset}}
	if len(key) > 0 && utf8.Valid(key) {
		ev.StreamID = string(key)
	}
	return ev
}

// corruptStream is the error of an append to a stream whose log holds a
// record that is not a valid event at its place (c, the first one): the
// stream's version is unknown, so no expected version can hold, and
// writing after the bad record would bury it under more events (issue 12:
// 9, 7, 8). Nothing was written. It matches eventstore.ErrCorruptLog and
// errors.As gives the *CorruptRecordError naming topic, partition and
// offset.
func corruptStream(stream string, c *wire.DecodeError) error {
	cp := *c
	return fmt.Errorf("kafka: append to stream %q refused, nothing was written: the stream's log is corrupt, so its version is unknown "+
		"(repair or move the stream: read it with ReadAll, which yields the bad record, and write its valid events to a new stream): %w", stream, &cp)
}
