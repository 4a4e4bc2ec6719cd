package avro

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// Personal-data fields on the direct paths. Marshal seals the fields with
// pii.Encryptor.Seal and the direct encoder writes the wire forms where
// the plaintext would go, so the value is never copied and no envelope
// becomes a Go string. The direct decoder keeps each field's wire form
// aside (a slice of the input) and pii.Encryptor.DecryptFields sets the
// fields from them, so no envelope becomes a Go string on the way in
// either. The bytes are the same as on the goavro paths, which keep
// encrypting a copy of the value (pii.Encryptor.Encrypt) and decrypting
// the decoded value (pii.Encryptor.Decrypt).

// piiAppendFn is the direct encoder of a type with personal-data fields:
// it writes the wire forms in sealed instead of those fields' values.
type piiAppendFn func(buf []byte, v reflect.Value, sealed *pii.Sealed) ([]byte, error)

// piiFieldOf returns the plan index of gf, or -1 if gf holds no personal
// data (or pp is nil).
func piiFieldOf(pp *pii.Plan, gf *goField) int {
	if pp == nil {
		return -1
	}
	for i := range pp.Len() {
		if slices.Equal(pp.Index(i), gf.index) {
			return i
		}
	}
	return -1
}

// piiWire reports whether a personal-data field of Go type t can be
// written and read as Avro s with its wire form as the value: a plain
// string for a string, plain bytes for a []byte.
func piiWire(t reflect.Type, s *Schema) bool {
	if s.Logical != "" {
		return false
	}
	switch t.Kind() {
	case reflect.String:
		return s.Kind == String
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8 && s.Kind == Bytes
	}
	return false
}

// compileAppendPII returns the direct encoder of t, whose personal-data
// fields pp describes, for the record schema s; ok=false when the pair
// needs the goavro path. A personal-data field that s does not hold is
// not written (sealing it is wasted work, not a leak).
func compileAppendPII(t reflect.Type, s *Schema, pp *pii.Plan) (piiAppendFn, bool) {
	if s.Kind != Record || t.Kind() != reflect.Struct {
		return nil, false
	}
	fields, ok := (&appender{memo: map[planKey]*appendFn{}}).fields(t, s)
	if !ok {
		return nil, false
	}
	piiOf := make([]int, len(fields)) // >= 0: plan index of a personal-data field
	for i, f := range fields {
		piiOf[i] = piiFieldOf(pp, f.field)
		if piiOf[i] >= 0 && !piiWire(f.field.sf.Type, s.Fields[i].Type) {
			return nil, false
		}
	}
	short := s.ShortName()
	return func(buf []byte, v reflect.Value, sealed *pii.Sealed) ([]byte, error) {
		for i := range fields {
			f := &fields[i]
			if k := piiOf[i]; k >= 0 {
				if b := sealed.Field(k); b != nil {
					buf = append(appendLong(buf, int64(len(b))), b...)
					continue
				}
			}
			var err error
			if buf, err = f.fn(buf, f.field.of(v)); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", short, f.name, err)
			}
		}
		return buf, nil
	}, true
}

// piiReadFn is the direct decoder of a type with personal-data fields:
// it reads the top-level record into v, except those fields, whose wire
// forms it stores in wire (by plan index; they alias d's input).
type piiReadFn func(d *decoder, v reflect.Value, wire [][]byte) error

// compileReadPII is compileRead for a type with personal-data fields pp,
// whose reader keeps their wire forms aside instead of setting them.
// ok=false when the pair needs another path, for example when s lacks a
// personal-data field (its default must be set). Like the record reader
// of compileRead otherwise.
func compileReadPII(t reflect.Type, s *Schema, pp *pii.Plan) (piiReadFn, bool) {
	if s.Kind != Record || t.Kind() != reflect.Struct {
		return nil, false
	}
	rc := &readCompiler{open: map[*Schema]bool{s: true}}
	goFields, err := goFieldIndex(t)
	if err != nil {
		return nil, false
	}
	type fieldRead struct {
		field *goField // nil: skip the Avro field
		name  string
		fn    readFn
		pii   int // >= 0: a personal-data field, kept in wire[pii]
	}
	fields := make([]fieldRead, 0, len(s.Fields))
	kept := make([]bool, pp.Len())
	for _, f := range s.Fields {
		gf, ok := goFields.lookup(f)
		if !ok {
			// The Go type does not hold it (the plan ignores it): skip.
			sk, ok := rc.skip(f.Type)
			if !ok {
				return nil, false
			}
			fields = append(fields, fieldRead{nil, f.Name, sk, -1})
			continue
		}
		if k := piiFieldOf(pp, gf); k >= 0 {
			if !piiWire(gf.sf.Type, f.Type) || kept[k] {
				return nil, false
			}
			kept[k] = true
			fields = append(fields, fieldRead{gf, f.Name, nil, k})
			continue
		}
		fn, ok := rc.build(gf.sf.Type, f.Type)
		if !ok {
			return nil, false
		}
		fields = append(fields, fieldRead{gf, f.Name, fn, -1})
	}
	if slices.Contains(kept, false) {
		return nil, false
	}
	short := s.ShortName()
	return func(d *decoder, v reflect.Value, wire [][]byte) error {
		for i := range fields {
			f := &fields[i]
			var err error
			switch {
			case f.pii >= 0:
				wire[f.pii], err = d.bytes()
			case f.field == nil:
				err = f.fn(d, v)
			default:
				err = f.fn(d, f.field.of(v))
			}
			if err != nil {
				return fmt.Errorf("%s.%s: %w", short, f.name, err)
			}
		}
		return nil
	}, true
}

// piiDecoder is a decoder with room for the wire forms of up to four
// personal-data fields, pooled: allocating one per decode cost more CPU
// (with the GC's share) than the pool.
type piiDecoder struct {
	d    decoder
	wire [4][]byte
}

var piiDecoders = sync.Pool{New: func() any { return new(piiDecoder) }}

// decodeDirectPII is decodeDirect for a reader compiled by
// compileReadPII, followed by the decryption of the fields it kept aside.
func (s *Serde) decodeDirectPII(ctx context.Context, dp *decodePath, t reflect.Type, body []byte, name string, id int) (reflect.Value, error) {
	ws := dp.ws
	if ws.guard {
		if err := checkBinary(ws.schema, body, s.cfg.maxItems); err != nil {
			return reflect.Value{}, &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: fmt.Errorf("payload does not match schema ID %d: %w", ws.id, err)}
		}
	}
	pd := piiDecoders.Get().(*piiDecoder)
	defer func() {
		*pd = piiDecoder{} // keep no reference to the caller's bytes
		piiDecoders.Put(pd)
	}()
	pd.d.buf = body
	wire := pd.wire[:]
	if n := dp.pii.Len(); n <= len(wire) {
		wire = wire[:n]
	} else {
		wire = make([][]byte, n)
	}
	out := reflect.New(t).Elem()
	if err := dp.directPII(&pd.d, out, wire); err != nil {
		if errors.Is(err, errShortBuffer) {
			err = fmt.Errorf("%w (payload ends early)", err)
		}
		return reflect.Value{}, &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: fmt.Errorf("payload does not match schema ID %d: %w", ws.id, err)}
	}
	if len(pd.d.buf) != 0 {
		return reflect.Value{}, &DecodeError{Type: name, SchemaID: id, Topic: s.topic, Err: fmt.Errorf("payload does not match schema ID %d: %d trailing bytes", ws.id, len(pd.d.buf))}
	}
	if err := s.cfg.enc.DecryptFields(ctx, dp.pii, out.Addr(), wire); err != nil {
		return reflect.Value{}, s.decryptErr(err, name, id)
	}
	return out, nil
}
