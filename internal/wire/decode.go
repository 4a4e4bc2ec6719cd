package wire

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
)

// DecodeError says why a record is not a valid kafkaes event record and
// where it is. It matches [eventstore.ErrCorruptLog] with errors.Is.
type DecodeError struct {
	// Topic, Partition and Offset locate the record.
	Topic     string
	Partition int32
	Offset    int64
	// Reason says what is wrong with the record.
	Reason string
}

// Error names the record and what is wrong with it.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: topic %q partition %d offset %d: %s", eventstore.ErrCorruptLog, e.Topic, e.Partition, e.Offset, e.Reason)
}

// Unwrap returns [eventstore.ErrCorruptLog].
func (e *DecodeError) Unwrap() error { return eventstore.ErrCorruptLog }

// Decode turns a record of an events topic into the event it holds. topic,
// partition and offset locate the record; they become the event's Position
// and appear in errors. ts is the record's timestamp, used as RecordedAt
// when the record has no [HeaderTime] header.
//
// The event's Data is value itself, not a copy; its strings are copies, so
// key and header bytes may be reused afterwards. Headers other than the ones
// of this format (neither "es." nor [MetaPrefix] names) are ignored, and so
// are unknown "es." headers, which later minor versions may add; nil
// headers are skipped.
//
// Decode never panics. A record that is not a valid kafkaes event record
// gives a [*DecodeError] matching [eventstore.ErrCorruptLog]: no
// [HeaderVersion] header (a record of another producer), an empty,
// oversized or non-UTF-8 key, a version that is not a decimal number of at
// least 1, a missing or empty type or ID, a time that is not RFC 3339, an
// empty metadata key, or one of these headers twice (except the trace
// context headers: of several, the first counts).
func Decode(topic string, partition int32, offset int64, key, value []byte, headers []*sarama.RecordHeader, ts time.Time) (eventstore.RecordedEvent, error) {
	fail := func(format string, args ...any) (eventstore.RecordedEvent, error) {
		return eventstore.RecordedEvent{}, &DecodeError{Topic: topic, Partition: partition, Offset: offset, Reason: fmt.Sprintf(format, args...)}
	}
	var (
		typ, ver, id, at, corr, caus []byte
		seen                         uint8
		metas                        int
		size                         = len(key)
	)
	const (
		sType = 1 << iota
		sVersion
		sID
		sTime
		sCorr
		sCaus
	)
	set := func(bit uint8, dst *[]byte, v []byte) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		*dst = v
		size += len(v)
		return true
	}
	for _, h := range headers {
		if h == nil {
			continue
		}
		ok := true
		switch string(h.Key) {
		case HeaderType:
			ok = set(sType, &typ, h.Value)
		case HeaderVersion:
			ok = set(sVersion, &ver, h.Value)
		case HeaderID:
			ok = set(sID, &id, h.Value)
		case HeaderTime:
			ok = set(sTime, &at, h.Value)
		case HeaderCorrelation:
			ok = set(sCorr, &corr, h.Value)
		case HeaderCausation:
			ok = set(sCaus, &caus, h.Value)
		default:
			if k, isMeta := metaKey(h.Key); isMeta {
				if len(k) == 0 {
					return fail("header %q has an empty metadata key", h.Key)
				}
				metas++
				size += len(k) + len(h.Value)
			}
		}
		if !ok {
			return fail("header %s appears more than once", h.Key)
		}
	}
	switch {
	case seen&sVersion == 0:
		return fail("not a kafkaes event record: no %s header (was it written by another producer? keep other producers off kafkaes events topics)", HeaderVersion)
	case len(key) == 0:
		return fail("empty record key; kafkaes event records are keyed by their stream ID")
	case len(key) > eventstore.MaxStreamIDLength:
		return fail("record key of %d bytes is longer than the stream ID limit of %d", len(key), eventstore.MaxStreamIDLength)
	case !utf8.Valid(key):
		return fail("record key %s is not valid UTF-8, so it is not a stream ID", quote(key))
	case len(typ) == 0:
		return fail("missing or empty %s header", HeaderType)
	case len(id) == 0:
		return fail("missing or empty %s header", HeaderID)
	}
	version, ok := ParseVersion(ver)
	if !ok {
		return fail("bad %s header %s: want a decimal number of at least 1 without sign or leading zeros", HeaderVersion, quote(ver))
	}

	// One allocation for every string of the event.
	var sb strings.Builder
	sb.Grow(size)
	sb.Write(key)
	sb.Write(typ)
	sb.Write(id)
	sb.Write(at)
	sb.Write(corr)
	sb.Write(caus)
	all := sb.String()
	take := func(n int) string {
		s := all[:n]
		all = all[n:]
		return s
	}
	ev := eventstore.RecordedEvent{
		StreamID: take(len(key)),
		Version:  version,
		Position: eventstore.Position{Partition: partition, Offset: offset},
	}
	ev.Type = take(len(typ))
	ev.ID = take(len(id))
	timeText := take(len(at))
	ev.Metadata.CorrelationID = take(len(corr))
	ev.Metadata.CausationID = take(len(caus))
	ev.Data = value

	if seen&sTime != 0 {
		t, err := time.Parse(time.RFC3339Nano, timeText)
		if err != nil {
			return fail("bad %s header %s: want an RFC 3339 time such as 2006-01-02T15:04:05.999999999Z", HeaderTime, quote(at))
		}
		ev.RecordedAt = t.UTC()
	} else {
		ev.RecordedAt = ts.UTC()
	}

	if metas > 0 {
		// Metadata strings share a second allocation; the fixed ones above
		// stay independent of the map's size.
		var mb strings.Builder
		mb.Grow(size - len(key) - len(typ) - len(id) - len(at) - len(corr) - len(caus))
		for _, h := range headers {
			if h == nil {
				continue
			}
			if k, isMeta := metaKey(h.Key); isMeta {
				mb.Write(k)
				mb.Write(h.Value)
			}
		}
		ms := mb.String()
		values := make(map[string]string, metas)
		for _, h := range headers {
			if h == nil {
				continue
			}
			hk, isMeta := metaKey(h.Key)
			if !isMeta {
				continue
			}
			kn := len(hk)
			k, v := ms[:kn], ms[kn:kn+len(h.Value)]
			ms = ms[kn+len(h.Value):]
			if _, dup := values[k]; dup {
				if k == HeaderTraceparent || k == HeaderTracestate {
					// Tracing instrumentation (a sarama interceptor, a
					// proxy) may add its own trace context next to the
					// one kafkaes wrote; it must not make the event
					// unreadable. The first one, written by kafkaes, wins.
					continue
				}
				return fail("header %s appears more than once", h.Key)
			}
			values[k] = v
		}
		ev.Metadata.Values = values
	}
	return ev, nil
}

// DecodeMessage is [Decode] for a message from a sarama consumer.
func DecodeMessage(msg *sarama.ConsumerMessage) (eventstore.RecordedEvent, error) {
	return Decode(msg.Topic, msg.Partition, msg.Offset, msg.Key, msg.Value, msg.Headers, msg.Timestamp)
}

// quote formats b for an error message, cut to 64 bytes.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..." + "(" + strconv.Itoa(len(b)) + " bytes)"
	}
	return strconv.Quote(string(b))
}
