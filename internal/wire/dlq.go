package wire

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Headers of the records of a dead-letter topic (written by
// projection/kafkaprojection.DLQ and the kafkaes command; both read them).
// A letter carries the dead-lettered event's key, value and headers plus
// these; a release (an operator's retry or drop) and the runner's answer
// to it (action "acted") carry the projection, the time and the
// release headers, with the stream ID as key and no value.
const (
	HeaderDLQError      = "dlq.error"      // the error text
	HeaderDLQProjection = "dlq.projection" // the projection's name
	HeaderDLQTopic      = "dlq.topic"      // origin topic
	HeaderDLQPartition  = "dlq.partition"  // origin partition, decimal
	HeaderDLQOffset     = "dlq.offset"     // origin offset, decimal
	HeaderDLQAttempts   = "dlq.attempts"   // handler attempts, decimal
	HeaderDLQTime       = "dlq.time"       // when, RFC 3339 UTC with six fraction digits
	HeaderDLQParked     = "dlq.parked"     // "true" for events that only follow an earlier dead letter of their stream
	HeaderDLQAction     = "dlq.action"     // "retry", "drop", or DLQActionActed (the runner's answer)
	HeaderDLQBy         = "dlq.by"         // who asked for the release
	HeaderDLQRelease    = "dlq.release"    // acted: the release's ID (partition/offset/last letter offset)
	HeaderDLQOutcome    = "dlq.outcome"    // acted: "ok" (letters done, stream released) or "failed" (see dlq.error)
)

// DLQActionActed is the action of a runner's answer to a release.
const DLQActionActed = "acted"

// DLQStream is what a dead-letter topic says about one stream of one
// projection, folded from the stream's records in topic order (all of a
// stream's records are in one partition): its letters not released yet,
// a release asked for and not acted upon, and why the last one failed.
// L is whatever the reader keeps of a record.
type DLQStream[L any] struct {
	Letters []L
	// Release is the record of a retry or drop not acted upon, nil if
	// none.
	Release *L
	// LastReleaseError is why the last release acted upon failed (empty
	// when it succeeded or there was none).
	LastReleaseError string

	offsets    []int64 // of Letters
	releaseKey string  // partition/offset of Release
}

// Add folds in the next record of the stream.
func (st *DLQStream[L]) Add(rec L, partition int32, offset int64, headers []*sarama.RecordHeader) {
	h := func(k string) string {
		v, _ := Header(headers, k)
		return string(v)
	}
	switch h(HeaderDLQAction) {
	case "": // a letter
		st.Letters = append(st.Letters, rec)
		st.offsets = append(st.offsets, offset)
	case "retry", "drop":
		st.Release = &rec
		st.releaseKey = fmt.Sprintf("%d/%d", partition, offset)
	case DLQActionActed:
		id := h(HeaderDLQRelease)
		if st.Release != nil && strings.HasPrefix(id, st.releaseKey+"/") {
			st.Release = nil
		}
		if h(HeaderDLQOutcome) != "ok" {
			st.LastReleaseError = h(HeaderDLQError)
			return
		}
		st.LastReleaseError = ""
		upto := dlqReleaseUpto(id)
		keep := 0
		for i, off := range st.offsets {
			if off > upto {
				st.Letters[keep], st.offsets[keep] = st.Letters[i], off
				keep++
			}
		}
		st.Letters, st.offsets = st.Letters[:keep], st.offsets[:keep]
	}
}

// ReleaseID identifies the pending release together with the letters it
// covers (all current ones): partition/offset of the release record and
// the offset of the last letter (-1: none). A runner's answer names it.
func (st *DLQStream[L]) ReleaseID() string {
	upto := int64(-1)
	if n := len(st.offsets); n > 0 {
		upto = st.offsets[n-1]
	}
	return fmt.Sprintf("%s/%d", st.releaseKey, upto)
}

// dlqReleaseUpto returns the offset of the last letter a release ID
// covers (-1 when none, or the ID is not one).
func dlqReleaseUpto(id string) int64 {
	i := strings.LastIndexByte(id, '/')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// DLQReleaseMessage returns a release record (or a runner's answer to one)
// for the stream of projection: key the stream ID, no value, the
// projection, the time and headers.
func DLQReleaseMessage(topic, projection, stream string, headers map[string]string) *sarama.ProducerMessage {
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(stream)}
	add := func(k, v string) {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	add(HeaderDLQProjection, projection)
	add(HeaderDLQTime, FormatTime(time.Now()))
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		add(k, headers[k])
	}
	return msg
}
