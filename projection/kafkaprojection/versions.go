package kafkaprojection

import (
	"fmt"

	"github.com/kafkaes/kafkaes/internal/wire"
	"github.com/kafkaes/kafkaes/projection"
)

// versionCheckStreams bounds the streams a versionCheck remembers per
// partition (about 50 bytes each plus the stream ID). Beyond it, a stream
// not seen yet replaces an arbitrary remembered one: its next event is
// then not checked.
const versionCheckStreams = 100_000

// versionCheck flags events out of place in their stream among the
// records of one partition that one claim (or catch-up read) consumes in
// offset order: an event whose version is not the next after the version
// of the stream's event read before it (a gap or a duplicate written
// around kafkaes, a foreign record with a valid-looking es.version) gets
// a DecodeErr matching eventstore.ErrCorruptLog, so the runner's failure
// policy sees it instead of the handlers. It only knows what it read:
// the first event of each stream after the start of the read is not
// checked (the Kafka event store's index, which reads each partition
// from its beginning, checks every one; see projection.FromStore).
type versionCheck struct {
	// last holds each stream's last version; a pointer, so that a
	// filtered record (skip) updates it without converting its key.
	last map[string]*int64
}

func newVersionCheck() *versionCheck { return &versionCheck{last: map[string]*int64{}} }

// check flags r when it is out of place, and otherwise remembers it. A
// flagged event is not remembered, like the event store's index skips it:
// the stream's next valid event follows the last valid one.
func (v *versionCheck) check(r *projection.Record) {
	if r.DecodeErr != nil {
		return
	}
	ev := &r.Event
	last, ok := v.last[ev.StreamID]
	if ok && ev.Version != *last+1 {
		r.DecodeErr = &wire.DecodeError{Topic: r.Topic, Partition: ev.Position.Partition, Offset: ev.Position.Offset,
			Reason: fmt.Sprintf("event version %d of stream %q does not follow version %d read before it "+
				"(a gap, a duplicate, or an event written outside kafkaes)", ev.Version, ev.StreamID, *last)}
		return
	}
	if ok {
		*last = ev.Version
		return
	}
	v.remember(ev.StreamID, ev.Version)
}

// skip follows the stream of a record the source's filter drops, so that
// the stream's next delivered event is checked against it: like check,
// without flagging anything (an event out of place is not remembered, and
// the stream's next delivered event is then checked against the last one
// in place, as check does after flagging).
func (v *versionCheck) skip(stream []byte, version int64) {
	if last, ok := v.last[string(stream)]; ok {
		if version == *last+1 {
			*last = version
		}
		return
	}
	v.remember(string(stream), version)
}

func (v *versionCheck) remember(stream string, version int64) {
	if len(v.last) >= versionCheckStreams {
		for k := range v.last {
			delete(v.last, k)
			break
		}
	}
	v.last[stream] = &version
}
