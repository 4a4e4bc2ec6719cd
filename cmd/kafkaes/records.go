package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// eventLine is how stream and tail print one record: a JSON object per
// line. Records that are not kafkaes events are printed with Error set and
// the raw key and value.
type eventLine struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Stream      string            `json:"stream"`
	Version     int64             `json:"version,omitempty"`
	Type        string            `json:"type,omitempty"`
	ID          string            `json:"id,omitempty"`
	Time        string            `json:"time,omitempty"`
	Correlation string            `json:"correlation,omitempty"`
	Causation   string            `json:"causation,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	// SchemaID is the registry schema ID of a Confluent-framed payload.
	SchemaID *int `json:"schema_id,omitempty"`
	// Data is the payload as JSON: Avro decoded through the registry (as
	// render shows it to people), or the payload itself when it is JSON.
	Data json.RawMessage `json:"data,omitempty"`
	// DataBase64 is the payload when it could not be shown as JSON.
	DataBase64 string `json:"data_base64,omitempty"`
	// Redacted lists the personal-data fields of Data whose subject was
	// erased (with --key-topic; they show their zero value).
	Redacted []string `json:"redacted,omitempty"`
	// DataError says why the payload could not be decoded.
	DataError string `json:"data_error,omitempty"`
	// Marker is set for a stream's lifecycle marker (a record of type
	// eventstore.TypeStreamDeleted or TypeStreamTruncated, which has no
	// payload): "deleted" or "truncated".
	Marker string `json:"marker,omitempty"`
	// TruncateBefore is a truncate marker's truncation point: loads of
	// the stream no longer read the versions before it.
	TruncateBefore int64 `json:"truncate_before,omitempty"`
	// Error says why the record is not a valid kafkaes event record.
	Error string `json:"error,omitempty"`
}

// printer turns records into JSON lines.
type printer struct {
	topic string
	reg   *registry // nil without --schema-registry
	enc   *json.Encoder
}

func newPrinter(w io.Writer, topic string, reg *registry) *printer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &printer{topic: topic, reg: reg, enc: enc}
}

func (p *printer) line(r rec) eventLine {
	ev, err := wire.Decode(p.topic, r.partition, r.offset, r.key, r.value, r.headers, r.ts)
	return p.lineOf(r, ev, err)
}

// lineOf is the line of record r, which decoded as ev or failed with err.
func (p *printer) lineOf(r rec, ev eventstore.RecordedEvent, err error) eventLine {
	l := eventLine{Topic: p.topic, Partition: r.partition, Offset: r.offset}
	if err != nil {
		l.Stream = string(r.key)
		l.Error = err.Error()
	} else {
		l.Stream, l.Version, l.Type, l.ID = ev.StreamID, ev.Version, ev.Type, ev.ID
		l.Time = ev.RecordedAt.Format(time.RFC3339Nano)
		l.Correlation, l.Causation = ev.Metadata.CorrelationID, ev.Metadata.CausationID
		l.Metadata = ev.Metadata.Values
		if m, ok := eventstore.ParseMarker(ev.Event); ok {
			l.Marker = markerName(m)
			l.TruncateBefore = m.Before
		}
	}
	p.payload(&l, r.value)
	return l
}

// payload fills the data fields of l from a record value.
func (p *printer) payload(l *eventLine, value []byte) {
	if len(value) == 0 {
		return
	}
	if id, ok := schemaID(value); ok {
		l.SchemaID = &id
		if p.reg != nil {
			_, data, redacted, err := p.reg.decode(value)
			if err == nil {
				l.Data, l.Redacted = data, redacted
				return
			}
			l.DataError = err.Error()
		}
		l.DataBase64 = base64.StdEncoding.EncodeToString(value)
		return
	}
	if json.Valid(value) {
		l.Data = json.RawMessage(value)
		return
	}
	l.DataBase64 = base64.StdEncoding.EncodeToString(value)
}

// markerName names a lifecycle marker's kind in output.
func markerName(m eventstore.Marker) string {
	if m.Kind == eventstore.MarkerDeleted {
		return "deleted"
	}
	return "truncated"
}

func (p *printer) print(r rec) error {
	return p.enc.Encode(p.line(r))
}

// printEvent prints the line of ev, an event read through the event
// store (whose record's value is ev.Data).
func (p *printer) printEvent(ev eventstore.RecordedEvent) error {
	return p.enc.Encode(p.lineOf(eventRec(ev), ev, nil))
}

// eventRec is the part of an event's record that printing and checking it
// use besides the decoded event.
func eventRec(ev eventstore.RecordedEvent) rec {
	return rec{partition: ev.Position.Partition, offset: ev.Position.Offset, key: []byte(ev.StreamID), value: ev.Data, ts: ev.RecordedAt}
}
