package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Kinds of violations verify reports.
const (
	vCorrupt       = "corrupt-record"    // not a valid kafkaes event record (foreign producer, bad headers)
	vGap           = "version-gap"       // a stream's versions skip one or more numbers
	vDuplicate     = "duplicate-version" // a version that is not above the stream's last one
	vDuplicateID   = "duplicate-event-id"
	vWrongPart     = "wrong-partition" // a stream's record on another partition than murmur2(key) gives
	vPayload       = "undecodable-payload"
	vMarker        = "invalid-marker"  // a record of a reserved type (eventstore.ReservedTypePrefix) that is not a valid lifecycle marker
	vDeletedPrefix = "deleted-records" // the partition's log does not start at offset 0
	vPlaintextPII  = "pii-plaintext"   // a field the schema marks as encrypted personal data holds plaintext
)

// violation is one problem verify found.
type violation struct {
	Kind      string `json:"kind"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Stream    string `json:"stream,omitempty"`
	Version   int64  `json:"version,omitempty"`
	Message   string `json:"message"`
}

// verifier holds the state of a verify run.
type verifier struct {
	topic  string
	nparts int32
	reg    *registry

	// streams is keyed by partition and stream ID: versions must rise by
	// one in offset order, and offsets are ordered only within a partition.
	streams map[partStream]*streamState
	ids     idSet

	records, events int64
	counts          map[string]int
	report          func(violation)
	// fatal is set when the check cannot go on (the registry is down).
	fatal error
}

type partStream struct {
	partition int32
	stream    string
}

type streamState struct {
	version int64
	offset  int64
}

type idLoc struct {
	partition int32
	offset    int64
}

// idSet remembers the event IDs seen and where. Canonical lower-case UUIDs
// (what the stores generate) are kept as 16 bytes, other IDs as strings, so
// a topic of n events needs about 40n bytes rather than 80n.
type idSet struct {
	uuids  map[[16]byte]idLoc
	others map[string]idLoc
}

// add records id at loc, or returns where it was seen first.
func (s *idSet) add(id string, loc idLoc) (first idLoc, dup bool) {
	if u, ok := parseUUID(id); ok {
		if s.uuids == nil {
			s.uuids = map[[16]byte]idLoc{}
		}
		if first, dup = s.uuids[u]; !dup {
			s.uuids[u] = loc
		}
		return first, dup
	}
	if s.others == nil {
		s.others = map[string]idLoc{}
	}
	if first, dup = s.others[id]; !dup {
		s.others[strings.Clone(id)] = loc // ev's strings share one allocation
	}
	return first, dup
}

// parseUUID parses the canonical lower-case form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; anything else (upper case
// included, so that IDs that differ only in case stay distinct) is not ok.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		if s[i] == '-' {
			i++
			continue
		}
		hi, ok1 := hexNibble(s[i])
		lo, ok2 := hexNibble(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (v *verifier) add(kind string, r rec, stream string, version int64, format string, args ...any) {
	v.counts[kind]++
	v.report(violation{Kind: kind, Topic: v.topic, Partition: r.partition, Offset: r.offset, Stream: stream, Version: version, Message: fmt.Sprintf(format, args...)})
}

// check checks one record.
func (v *verifier) check(r rec) error {
	ev, err := wire.Decode(v.topic, r.partition, r.offset, r.key, r.value, r.headers, r.ts)
	if err != nil {
		v.records++
		var de *wire.DecodeError
		msg := err.Error()
		if errors.As(err, &de) {
			msg = de.Reason
		}
		v.add(vCorrupt, r, printable(r.key), 0, "%s", msg)
		return nil
	}
	return v.checkEvent(r, ev)
}

// checkEvent checks one record that decoded as the event ev.
func (v *verifier) checkEvent(r rec, ev eventstore.RecordedEvent) error {
	v.records++
	v.events++
	if want := wire.PartitionString(ev.StreamID, v.nparts); want != r.partition {
		v.add(vWrongPart, r, ev.StreamID, ev.Version,
			"stream %q belongs on partition %d (murmur2 of the key over %d partitions) but this record is on partition %d; was it written with another partitioner, or were partitions added?",
			ev.StreamID, want, v.nparts, r.partition)
	}
	key := partStream{r.partition, ev.StreamID}
	st := v.streams[key]
	if st == nil {
		st = &streamState{offset: -1}
		// Clone: ev's strings share one allocation with all its headers.
		v.streams[partStream{r.partition, strings.Clone(ev.StreamID)}] = st
	}
	switch {
	case ev.Version == st.version+1:
	case ev.Version > st.version+1:
		missing := fmt.Sprintf("versions %d..%d are missing", st.version+1, ev.Version-1)
		if ev.Version == st.version+2 {
			missing = fmt.Sprintf("version %d is missing", st.version+1)
		}
		if st.version == 0 {
			v.add(vGap, r, ev.StreamID, ev.Version, "the stream's first event has version %d, want 1 (%s)", ev.Version, missing)
		} else {
			v.add(vGap, r, ev.StreamID, ev.Version, "version %d follows version %d at offset %d (%s)", ev.Version, st.version, st.offset, missing)
		}
	case ev.Version == st.version:
		v.add(vDuplicate, r, ev.StreamID, ev.Version, "the stream has two events with version %d: the first is at offset %d", ev.Version, st.offset)
	default:
		v.add(vDuplicate, r, ev.StreamID, ev.Version, "version %d comes after version %d (offset %d): the stream has two events with version %d, or its versions go backwards",
			ev.Version, st.version, st.offset, ev.Version)
	}
	if ev.Version > st.version {
		st.version, st.offset = ev.Version, r.offset
	}
	// Lifecycle markers take a version like events (so the checks above
	// hold for them) and have no payload.
	if eventstore.IsMarker(ev.Type) {
		if _, ok := eventstore.ParseMarker(ev.Event); !ok {
			v.add(vMarker, r, ev.StreamID, ev.Version, "type %q is reserved for lifecycle markers, but this record is not a valid one (a truncate marker needs an %s header with a version >= 1)",
				ev.Type, wire.HeaderTruncateBefore)
		} else if len(r.value) > 0 {
			v.add(vMarker, r, ev.StreamID, ev.Version, "lifecycle marker %q has a payload of %d bytes; markers have a null value", ev.Type, len(r.value))
		}
	}
	if first, dup := v.ids.add(ev.ID, idLoc{r.partition, r.offset}); dup {
		v.add(vDuplicateID, r, ev.StreamID, ev.Version, "event ID %q was already used by the record at partition %d offset %d", ev.ID, first.partition, first.offset)
	}
	if v.reg != nil {
		v.checkPayload(r, ev.StreamID, ev.Version)
		return v.fatal
	}
	return nil
}

// checkPayload decides by the record's framing how to check its payload:
// a Confluent-framed one must decode with its schema from the registry,
// any other must be JSON (what the JSON serde writes). An empty payload is
// not checked. A registry that cannot be reached sets v.fatal.
func (v *verifier) checkPayload(r rec, stream string, version int64) {
	if len(r.value) == 0 {
		return
	}
	if _, framed := schemaID(r.value); !framed {
		if !json.Valid(r.value) {
			v.add(vPayload, r, stream, version, "payload is neither Confluent-framed Avro (magic byte 0x00 and a 4-byte schema ID) nor JSON")
		}
		return
	}
	if _, _, _, err := v.reg.decode(r.value); err != nil {
		var re *registryError
		if errors.As(err, &re) && !re.permanent {
			v.fatal = err
			return
		}
		v.add(vPayload, r, stream, version, "%v", err)
		return
	}
	bad, err := v.reg.plaintextPII(r.value)
	if err == nil && len(bad) > 0 {
		v.add(vPlaintextPII, r, stream, version, "field(s) %s are marked as encrypted personal data (kafkaes.pii) but hold plaintext: written before the fields were marked, or by a producer that does not encrypt; erasing the subject cannot shred this record",
			strings.Join(bad, ", "))
	}
}

// printable returns a key for a message: the key as a string if it is
// valid text, else its bytes quoted.
func printable(key []byte) string {
	s := fmt.Sprintf("%q", key)
	return s[1 : len(s)-1]
}

// runVerify reads the whole events topic read_committed, from the log start
// to the last stable offset of every partition as it was when verify
// started, and checks every record.
func runVerify(ctx context.Context, e *env, _ []string) int {
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	defer cl.Close()
	rd := newReader(cl, e.topic)
	parts, start, end, err := rd.bounds(ctx)
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	v := &verifier{
		topic: e.topic, nparts: int32(len(parts)),
		streams: map[partStream]*streamState{}, counts: map[string]int{},
	}
	if e.registry != "" {
		v.reg = newRegistry(e.registry, e.timeout, e.registryOpts...)
	}
	printed := 0
	v.report = func(vl violation) {
		if e.opts.maxViolations > 0 && printed >= e.opts.maxViolations {
			if printed == e.opts.maxViolations {
				fmt.Fprintf(e.stderr, "kafkaes: more violations not shown (--max-violations %d); they are counted in the summary\n", e.opts.maxViolations)
				printed++
			}
			return
		}
		printed++
		printViolation(e.stdout, vl, e.opts.jsonOut)
	}
	for _, p := range parts {
		if start[p] > 0 {
			v.add(vDeletedPrefix, rec{partition: p, offset: start[p]}, "", 0,
				"the partition's log starts at offset %d: the records before it were deleted (retention, compaction or delete-records), so events are lost and the checks below see only part of the history",
				start[p])
		}
	}
	total := int64(0)
	for _, p := range parts {
		total += end[p] - start[p]
	}
	e.progressf("verify: reading %s: %s, %s up to the last stable offsets", e.topic, plural(len(parts), "partition", "partitions"), plural64(total, "offset", "offsets"))
	prog := newProgress(e, "verify "+e.topic, start, end)
	err = rd.scan(ctx, start, end, v.check, prog.update)
	prog.finish()
	if err != nil {
		if v.fatal != nil {
			e.errorf("verify %s: cannot check payloads: %v", e.topic, v.fatal)
		} else {
			e.errorf("verify %s: %v", e.topic, err)
		}
		return exitFailure
	}
	nstreams := map[string]bool{}
	for k := range v.streams {
		nstreams[k.stream] = true
	}
	summary := fmt.Sprintf("verify: topic %s: %s in %s, %s of %s", e.topic, plural64(v.records, "record", "records"),
		plural(len(parts), "partition", "partitions"), plural64(v.events, "event", "events"), plural(len(nstreams), "stream", "streams"))
	if v.reg != nil {
		summary += ", payloads decoded with the Schema Registry"
	}
	// With --json, stdout holds only violation objects; the summary goes
	// to stderr.
	sumOut := e.stdout
	if e.opts.jsonOut {
		sumOut = e.stderr
	}
	if len(v.counts) == 0 {
		fmt.Fprintf(sumOut, "%s: OK\n", summary)
		return exitOK
	}
	n := 0
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(v.counts)) {
		n += v.counts[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v.counts[k]))
	}
	fmt.Fprintf(sumOut, "%s: %s (%s)\n", summary, plural(n, "violation", "violations"), strings.Join(kinds, ", "))
	return exitViolation
}

func printViolation(w io.Writer, v violation, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	where := fmt.Sprintf("%s/%d@%d", v.Topic, v.Partition, v.Offset)
	if v.Stream != "" {
		where += fmt.Sprintf(" stream %q", v.Stream)
		if v.Version > 0 {
			where += fmt.Sprintf(" version %d", v.Version)
		}
	}
	fmt.Fprintf(w, "VIOLATION %s %s: %s\n", v.Kind, where, v.Message)
}
