package wire

import (
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
)

// Header names of wire format v1. They never change within v1.
const (
	// HeaderType holds the event's stable type name (for Avro values the
	// record's full name). Required.
	HeaderType = "es.type"
	// HeaderVersion holds the event's version in its stream as decimal
	// ASCII without sign or leading zeros; the first event is 1. Required:
	// a record without it is not a kafkaes event record.
	HeaderVersion = "es.version"
	// HeaderID holds the event ID (normally a UUID), used for idempotent
	// appends and tracing. Required.
	HeaderID = "es.id"
	// HeaderTime holds when the event was recorded, in [TimeLayout].
	// Optional on read: when absent the record timestamp is used.
	HeaderTime = "es.time"
	// HeaderCorrelation holds Metadata.CorrelationID; written only when set.
	HeaderCorrelation = "es.correlation"
	// HeaderCausation holds Metadata.CausationID; written only when set.
	HeaderCausation = "es.causation"
	// MetaPrefix prefixes user metadata keys: Metadata.Values["user"] is the
	// header "meta.user". The trace context keys are the exception: see
	// [HeaderTraceparent].
	MetaPrefix = "meta."
	// HeaderTraceparent and HeaderTracestate hold the W3C Trace Context of
	// the event (Metadata.Values["traceparent"] and ["tracestate"]). They
	// are written under these exact names, without [MetaPrefix], as the W3C
	// Trace Context and OpenTelemetry conventions for Kafka do, so that
	// tracing tools and consumers in other languages find them; on read
	// they (and "meta.traceparent"/"meta.tracestate" of older records) go
	// back into Metadata.Values.
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	// HeaderTruncateBefore holds the truncation point of a truncate marker
	// (a record of type eventstore.TypeStreamTruncated), as decimal ASCII
	// like [HeaderVersion]. It carries the marker's metadata value
	// eventstore.MarkerTruncateBefore: Encode writes that value under this
	// name (not "meta.truncate-before") for a truncate marker, and Decode
	// reads it back into Metadata.Values.
	HeaderTruncateBefore = "es." + eventstore.MarkerTruncateBefore
)

// headerPrefix returns the prefix of the header name of metadata key k:
// none for the trace context keys, MetaPrefix for others.
func headerPrefix(k string) string {
	if k == HeaderTraceparent || k == HeaderTracestate {
		return ""
	}
	return MetaPrefix
}

// metaKey returns the metadata key that header name carries, and whether
// it carries one (a "meta." header, possibly with an empty key, or a trace
// context header).
func metaKey(name []byte) ([]byte, bool) {
	switch {
	case len(name) >= len(MetaPrefix) && string(name[:len(MetaPrefix)]) == MetaPrefix:
		return name[len(MetaPrefix):], true
	case string(name) == HeaderTraceparent || string(name) == HeaderTracestate:
		return name, true
	case string(name) == HeaderTruncateBefore:
		return name[len("es."):], true
	}
	return nil, false
}

// FormatVersion is the version of the wire format this package reads and
// writes.
const FormatVersion = 1

// Encode lays out an event as a Kafka record of wire format v1: the key
// (the stream ID) and the headers; the record value is ev.Data, unchanged.
// version is the event's version in its stream and at the time recorded
// (written in UTC). Metadata headers come in key order, so equal events
// encode to equal bytes.
//
// Encode does not validate its input; callers pass events checked by
// [eventstore.PrepareAppend]. The key and all header bytes share one
// allocation, and none of them may be modified.
func Encode(streamID string, version int64, ev eventstore.Event, at time.Time) (key []byte, headers []sarama.RecordHeader) {
	md := ev.Metadata
	n := 4 + len(md.Values)
	size := len(streamID) +
		len(HeaderType) + len(ev.Type) +
		len(HeaderVersion) + 20 +
		len(HeaderID) + len(ev.ID) +
		len(HeaderTime) + len(TimeLayout) + 10
	if md.CorrelationID != "" {
		n++
		size += len(HeaderCorrelation) + len(md.CorrelationID)
	}
	if md.CausationID != "" {
		n++
		size += len(HeaderCausation) + len(md.CausationID)
	}
	for k, v := range md.Values {
		size += len(MetaPrefix) + len(k) + len(v)
	}
	buf := make([]byte, 0, size)
	headers = make([]sarama.RecordHeader, 0, n)

	// cut returns the bytes appended since start, capped so that appending
	// to them can never overwrite what follows.
	cut := func(start int) []byte { return buf[start:len(buf):len(buf)] }
	add := func(name, value string) {
		s := len(buf)
		buf = append(buf, name...)
		k := cut(s)
		s = len(buf)
		buf = append(buf, value...)
		headers = append(headers, sarama.RecordHeader{Key: k, Value: cut(s)})
	}

	buf = append(buf, streamID...)
	key = cut(0)
	add(HeaderType, ev.Type)

	s := len(buf)
	buf = append(buf, HeaderVersion...)
	k := cut(s)
	s = len(buf)
	buf = strconv.AppendInt(buf, version, 10)
	headers = append(headers, sarama.RecordHeader{Key: k, Value: cut(s)})

	add(HeaderID, ev.ID)

	s = len(buf)
	buf = append(buf, HeaderTime...)
	k = cut(s)
	s = len(buf)
	buf = AppendTime(buf, at)
	headers = append(headers, sarama.RecordHeader{Key: k, Value: cut(s)})

	if md.CorrelationID != "" {
		add(HeaderCorrelation, md.CorrelationID)
	}
	if md.CausationID != "" {
		add(HeaderCausation, md.CausationID)
	}
	if len(md.Values) > 0 {
		var small [8]string
		keys := small[:0]
		for k := range md.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s := len(buf)
			if k == eventstore.MarkerTruncateBefore && ev.Type == eventstore.TypeStreamTruncated {
				buf = append(buf, "es."...) // HeaderTruncateBefore
			} else {
				buf = append(buf, headerPrefix(k)...)
			}
			buf = append(buf, k...)
			hk := cut(s)
			s = len(buf)
			buf = append(buf, md.Values[k]...)
			headers = append(headers, sarama.RecordHeader{Key: hk, Value: cut(s)})
		}
	}
	return key, headers
}

// ProducerHeaders returns pointers to headers, the form consumers and raw
// fetches return, for passing records built by [Encode] to [Decode].
func ProducerHeaders(headers []sarama.RecordHeader) []*sarama.RecordHeader {
	out := make([]*sarama.RecordHeader, len(headers))
	for i := range headers {
		out[i] = &headers[i]
	}
	return out
}

// AppendVersion appends the decimal form of version, as written in the
// [HeaderVersion] header, to b.
func AppendVersion(b []byte, version int64) []byte { return strconv.AppendInt(b, version, 10) }

// ParseVersion parses the value of a [HeaderVersion] header: decimal ASCII
// digits without sign or leading zeros, at least 1 and at most
// math.MaxInt64. ok is false for anything else.
func ParseVersion(b []byte) (version int64, ok bool) {
	if len(b) == 0 || len(b) > 19 || b[0] == '0' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// Header returns the value of the first header called name, and whether
// there is one. Nil entries are skipped.
func Header(headers []*sarama.RecordHeader, name string) ([]byte, bool) {
	for _, h := range headers {
		if h != nil && string(h.Key) == name {
			return h.Value, true
		}
	}
	return nil, false
}

// TimeLayout is how es.time (and the other time headers: a snapshot's
// es.time, a dead letter's dlq.time) is written: RFC 3339 in UTC with
// exactly six fraction digits (microseconds) and "Z", for example
// 2026-11-24T06:45:00.123456Z, also for a whole second
// (2026-11-24T06:45:00.000000Z).
//
// Why six fixed digits: every common reader parses it with one pattern.
// Python before 3.11 cannot read nine digits (strptime's %f takes at most
// six, and datetime has microseconds) and needs the fraction to be there
// when the pattern has one: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")
// reads this layout from Python 3.7 on, fromisoformat from 3.11 on; Java's
// Instant.parse, JavaScript's Date.parse and Go's time.Parse read it too.
// Microseconds lose nothing an event time needs (Kafka's own timestamps
// are milliseconds). Readers still accept any RFC 3339 time, with 0 to 9
// fraction digits and any offset: records written before this layout carry
// up to nine digits.
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// AppendTime appends t in [TimeLayout] (in UTC, truncated to the
// microsecond) to buf.
func AppendTime(buf []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(buf, TimeLayout)
}

// FormatTime returns t in [TimeLayout].
func FormatTime(t time.Time) string { return string(AppendTime(nil, t)) }
