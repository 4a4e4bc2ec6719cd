package kafka

import (
	"crypto/sha256"
	"sort"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// What the index knows about one stream (streamState), and the event ID
// keys of its idempotency window. A streamState belongs to the index of
// its partition (index.go) and is read or changed only under its lock.

// run is a stretch of consecutive offsets holding consecutive versions of
// one stream: offsets offset..offset+n-1 hold versions version..version+n-1,
// where n is the next run's version minus this one's (for the last run,
// the stream's version plus one minus it). Leaving n implicit keeps a run
// at 16 bytes: streams written by interleaved writers have a run per
// event.
type run struct {
	offset, version int64
}

// idKey is an event ID in 16 bytes: the bytes of a canonical lower-case
// UUID (what eventstore.NewEventID makes, so the common case is exact), or
// the first 16 bytes of the SHA-256 of any other ID. Two different IDs
// share a key only by a SHA-256 collision on 128 bits; such a pair would
// make an append look like a repeat of the other, a risk far below that
// of two random v4 UUIDs being equal (122 random bits). The zero key
// stands for an event without an ID and matches nothing.
type idKey [16]byte

// keyOf returns the key of event ID id (a string, or the bytes of a
// record header, without converting them).
func keyOf[T string | []byte](id T) idKey {
	var k idKey
	if len(id) == 0 {
		return k
	}
	if len(id) == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-' {
		ok := true
		j := 0
		for i := 0; i < 36 && ok; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				continue
			}
			h, lo := unhex(id[i]), unhex(id[i+1])
			if h < 0 || lo < 0 {
				ok = false
				break
			}
			k[j] = byte(h<<4 | lo)
			j++
			i++
		}
		if ok && k != (idKey{}) {
			return k
		}
	}
	sum := sha256.Sum256([]byte(string(id)))
	copy(k[:], sum[:16])
	if k == (idKey{}) {
		k[0] = 1 // never the zero key
	}
	return k
}

// unhex returns the value of a lower-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// streamState is what the index knows about one stream.
type streamState struct {
	version int64
	runs    []run
	// ids is a ring of the keys of the latest event IDs (idempotency
	// window): one per version, the latest len(ids) versions; when the
	// ring is full, ids[idNext] is the oldest. Versions are implicit,
	// which keeps an entry at 16 bytes and without a pointer.
	ids    []idKey
	idNext int
	// corrupt is the first record with this stream's key that is not a
	// valid event at its place; loads of the stream report it.
	corrupt *wire.DecodeError
	// life is what the stream's lifecycle markers say (deleted,
	// truncated); nil for a stream without markers.
	life *eventstore.StreamLife
}

// lifeOf returns the stream's lifecycle state (the zero value without
// markers).
func (st *streamState) lifeOf() eventstore.StreamLife {
	if st.life == nil {
		return eventstore.StreamLife{}
	}
	return *st.life
}

// applyMarker records that the stream's latest event (at st.version) is
// the lifecycle marker m.
func (st *streamState) applyMarker(m eventstore.Marker) {
	if st.life == nil {
		st.life = &eventstore.StreamLife{}
	}
	st.life.Apply(m, st.version)
}

// markerOf returns the lifecycle marker a record with these headers is,
// if it is one: its es.type has the reserved prefix and it is a valid
// marker. A record of a reserved type that is not a valid marker is
// indexed as an ordinary event (it changes nothing).
func markerOf(headers []*sarama.RecordHeader) (eventstore.Marker, bool) {
	typ, ok := wire.Header(headers, wire.HeaderType)
	const prefix = eventstore.ReservedTypePrefix
	if !ok || len(typ) < len(prefix) || string(typ[:len(prefix)]) != prefix { // a comparison, no allocation: this runs for every indexed record
		return eventstore.Marker{}, false
	}
	ev := eventstore.Event{Type: string(typ)}
	if b, ok := wire.Header(headers, wire.HeaderTruncateBefore); ok {
		ev.Metadata.Values = map[string]string{eventstore.MarkerTruncateBefore: string(b)}
	}
	return eventstore.ParseMarker(ev)
}

// runLen returns the number of events of run i.
func (st *streamState) runLen(i int) int64 {
	if i+1 < len(st.runs) {
		return st.runs[i+1].version - st.runs[i].version
	}
	return st.version + 1 - st.runs[i].version
}

func (st *streamState) lastOffset() int64 {
	if len(st.runs) == 0 {
		return -1
	}
	i := len(st.runs) - 1
	return st.runs[i].offset + st.runLen(i) - 1
}

// knows reports whether the stream has an event at offset.
func (st *streamState) knows(offset int64) bool {
	i := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].offset+st.runLen(i) > offset })
	return i < len(st.runs) && st.runs[i].offset <= offset
}

// offsetOf returns the offset of the event with the given version.
func (st *streamState) offsetOf(version int64) (int64, bool) {
	if version < 1 || version > st.version || len(st.runs) == 0 {
		return 0, false
	}
	// The last run whose first version is at most version holds it.
	i := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].version > version }) - 1
	if i < 0 {
		return 0, false
	}
	r := st.runs[i]
	return r.offset + (version - r.version), true
}

// each calls fn with the offset and version of every event of the stream
// from version from on, in order.
func (st *streamState) each(from int64, fn func(offset, version int64)) {
	first := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].version+st.runLen(i) > from })
	for i := first; i < len(st.runs); i++ {
		r, n := st.runs[i], st.runLen(i)
		for k := max(from-r.version, 0); k < n; k++ {
			fn(r.offset+k, r.version+k)
		}
	}
}

// versionAt returns the version of ids[j].
func (st *streamState) versionAt(j int) int64 {
	n := len(st.ids)
	// The oldest entry is at idNext (0 until the ring is full).
	age := (j - st.idNext + n) % n // 0 for the oldest
	return st.version - int64(n) + 1 + int64(age)
}

// lookupID returns the version of event ID id, if it is in the window.
func (st *streamState) lookupID(id string) (int64, bool) {
	k := keyOf(id)
	if k == (idKey{}) {
		return 0, false
	}
	for j, e := range st.ids {
		if e == k {
			return st.versionAt(j), true
		}
	}
	return 0, false
}

// idAt returns the key of the ID of the event with the given version, if
// it is in the idempotency window.
func (st *streamState) idAt(version int64) (idKey, bool) {
	n := int64(len(st.ids))
	if n == 0 || version > st.version || version <= st.version-n {
		return idKey{}, false
	}
	age := int(version - (st.version - n + 1)) // 0 for the oldest
	j := (st.idNext + age) % len(st.ids)
	if st.ids[j] == (idKey{}) {
		return idKey{}, false
	}
	return st.ids[j], true
}

// add records the event with the next version at offset.
func (st *streamState) add(offset int64, id string, window int) { st.addKey(offset, keyOf(id), window) }

// addKey is add with the event ID's key.
func (st *streamState) addKey(offset int64, k idKey, window int) {
	if n := len(st.runs); n == 0 || st.lastOffset()+1 != offset {
		if n == cap(st.runs) {
			// Grow by half rather than double: most streams stay short,
			// and a stream written by interleaved writers has a run per
			// event.
			grown := make([]run, n, n+max(1, n/2))
			copy(grown, st.runs)
			st.runs = grown
		}
		st.runs = append(st.runs, run{offset: offset, version: st.version + 1})
	}
	st.version++
	if window <= 0 {
		return
	}
	if len(st.ids) < window {
		if len(st.ids) == cap(st.ids) {
			// Grow to at most the window, so a full ring has cap == len.
			grown := make([]idKey, len(st.ids), min(window, len(st.ids)+max(2, len(st.ids)/2)))
			copy(grown, st.ids)
			st.ids = grown
		}
		st.ids = append(st.ids, k)
		return
	}
	st.ids[st.idNext] = k
	st.idNext = (st.idNext + 1) % window
}

// positions returns the positions of versions from..to of a stream.
func positionsOf(st *streamState, p int32, from, to int64) []eventstore.Position {
	out := make([]eventstore.Position, 0, to-from+1)
	for v := from; v <= to; v++ {
		off, _ := st.offsetOf(v)
		out = append(out, eventstore.Position{Partition: p, Offset: off})
	}
	return out
}
