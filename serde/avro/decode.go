package avro

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
	"time"

	"github.com/linkedin/goavro/v2"
)

// The direct decoder reads Avro binary straight into a Go value, without
// goavro's native maps (building them and converting them to the Go
// struct is most of the cost of Unmarshal). It is compiled once per
// (writer schema ID, Go type), and only when the writer's schema has the
// same binary shape as the reader's (no resolution needed) and every
// node is one it supports; otherwise Unmarshal keeps the goavro path.
//
// It accepts exactly the bodies goavro accepts and yields the value the
// plan would build from goavro's native form: the varint, length, block
// count and union/enum index rules below are goavro's own (including
// goavro.MaxBlockCount and its unbounded varints), and the block-count
// guard (checkBinary) runs first, as before goavro. Tests compare both
// paths on random values and random bytes (FuzzDirectDecode).
// Unsupported, so left to goavro: logical types other than uuid and the
// time.Time ones (decimal, time-millis, ...), recursive schemas, and
// resolution other than added, removed and reordered record fields
// (decode_resolve.go).

type readFn func(d *decoder, v reflect.Value) error

type decoder struct {
	buf []byte
}

var errShortBuffer = io.ErrShortBuffer

// int reads an Avro int the way goavro does (no limit on the varint's
// length; the value is truncated to 32 bits).
func (d *decoder) int() (int32, error) {
	var value int
	var shift uint
	for off := 0; off < len(d.buf); off++ {
		b := d.buf[off]
		value |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			d.buf = d.buf[off+1:]
			return int32(value>>1) ^ -int32(value&1), nil
		}
		shift += 7
	}
	return 0, errShortBuffer
}

// long reads an Avro long the way goavro does.
func (d *decoder) long() (int64, error) {
	var value uint64
	var shift uint
	for off := 0; off < len(d.buf); off++ {
		b := d.buf[off]
		value |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			d.buf = d.buf[off+1:]
			return int64(value>>1) ^ -int64(value&1), nil
		}
		shift += 7
	}
	return 0, errShortBuffer
}

// bytes reads a length-prefixed byte string; the result aliases the input.
func (d *decoder) bytes() ([]byte, error) {
	if len(d.buf) < 1 {
		return nil, errShortBuffer
	}
	size, err := d.long()
	if err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("cannot decode binary bytes: negative size: %d", size)
	}
	if size > int64(len(d.buf)) {
		return nil, errShortBuffer
	}
	b := d.buf[:size]
	d.buf = d.buf[size:]
	return b, nil
}

func (d *decoder) fixed(n int) ([]byte, error) {
	if n > len(d.buf) {
		return nil, fmt.Errorf("fixed needs %d bytes, %d remain: %w", n, len(d.buf), errShortBuffer)
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b, nil
}

// blockCount reads an array or map block count (and the block size that
// follows a negative count) with goavro's checks.
func (d *decoder) blockCount() (int64, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, fmt.Errorf("invalid block count %d", n)
		}
		n = -n
		if _, err := d.long(); err != nil {
			return 0, err
		}
	}
	if n > goavro.MaxBlockCount {
		return 0, fmt.Errorf("block count %d exceeds goavro.MaxBlockCount %d", n, goavro.MaxBlockCount)
	}
	return n, nil
}

type readCompiler struct {
	open map[*Schema]bool // records being compiled (recursion: unsupported)
}

// compileRead returns the direct decoder for t and s, or ok=false if the
// pair needs the goavro path. It assumes compilePlan(t, s) succeeded.
func compileRead(t reflect.Type, s *Schema) (readFn, bool) {
	rc := &readCompiler{open: map[*Schema]bool{}}
	return rc.build(t, s)
}

func (rc *readCompiler) build(t reflect.Type, s *Schema) (readFn, bool) {
	if s.Kind == Union {
		return rc.union(t, s)
	}
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		ef, ok := rc.build(t.Elem(), s)
		if !ok {
			return nil, false
		}
		return pointerRead(t.Elem(), ef), true
	}
	if t == timeType {
		return timeRead(s)
	}
	if t == ratType || t == ratPtrType {
		return nil, false
	}
	if s.Logical != "" && s.Logical != "uuid" {
		return nil, false // goavro's logical forms stay with goavro
	}
	if t.Kind() == reflect.Array && t.Len() == 16 && t.Elem().Kind() == reflect.Uint8 {
		return uuidRead(s)
	}
	switch s.Kind {
	case Null:
		return func(_ *decoder, v reflect.Value) error { v.SetZero(); return nil }, true
	case Boolean:
		return func(d *decoder, v reflect.Value) error {
			if len(d.buf) < 1 {
				return errShortBuffer
			}
			b := d.buf[0]
			if b > 1 {
				return fmt.Errorf("cannot decode binary boolean: received byte %d", b)
			}
			d.buf = d.buf[1:]
			v.SetBool(b == 1)
			return nil
		}, true
	case Int, Long:
		return intRead(t, s)
	case Float:
		return func(d *decoder, v reflect.Value) error {
			b, err := d.fixed(4)
			if err != nil {
				return err
			}
			v.SetFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
			return nil
		}, true
	case Double:
		return func(d *decoder, v reflect.Value) error {
			b, err := d.fixed(8)
			if err != nil {
				return err
			}
			v.SetFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)))
			return nil
		}, true
	case String:
		return func(d *decoder, v reflect.Value) error {
			b, err := d.bytes()
			if err != nil {
				return err
			}
			v.SetString(string(b))
			return nil
		}, true
	case Enum:
		syms := s.Symbols
		return func(d *decoder, v reflect.Value) error {
			i, err := d.long()
			if err != nil {
				return err
			}
			if i < 0 || i >= int64(len(syms)) {
				return fmt.Errorf("enum %s index %d out of range", s.Name, i)
			}
			v.SetString(syms[i])
			return nil
		}, true
	case Bytes, Fixed:
		fixed, size := s.Kind == Fixed, s.Size
		return func(d *decoder, v reflect.Value) error {
			var b []byte
			var err error
			if fixed {
				b, err = d.fixed(size)
			} else {
				b, err = d.bytes()
			}
			if err != nil {
				return err
			}
			v.SetBytes(append([]byte(nil), b...)) // as the plan: empty is nil
			return nil
		}, true
	case Array:
		return rc.array(t, s)
	case Map:
		return rc.mapRead(t, s)
	case Record:
		return rc.record(t, s)
	}
	return nil, false
}

func intRead(t reflect.Type, s *Schema) (readFn, bool) {
	lo, hi, signed, ok := intRange(t.Kind())
	if !ok {
		return nil, false
	}
	isInt := s.Kind == Int
	return func(d *decoder, v reflect.Value) error {
		var i int64
		if isInt {
			x, err := d.int()
			if err != nil {
				return err
			}
			i = int64(x)
		} else {
			x, err := d.long()
			if err != nil {
				return err
			}
			i = x
		}
		if i < lo || i > hi {
			return fmt.Errorf("%d overflows Go %v", i, t)
		}
		if signed {
			v.SetInt(i)
		} else {
			v.SetUint(uint64(i))
		}
		return nil
	}, true
}

var epochDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// timeRead converts like goavro's logical types do.
func timeRead(s *Schema) (readFn, bool) {
	set := func(v reflect.Value, tm time.Time) {
		if v.CanAddr() {
			*v.Addr().Interface().(*time.Time) = tm
		} else {
			v.Set(reflect.ValueOf(tm))
		}
	}
	switch {
	case s.Kind == Long && s.Logical == "timestamp-millis":
		return func(d *decoder, v reflect.Value) error {
			ms, err := d.long()
			if err != nil {
				return err
			}
			sec := ms / 1e3
			set(v, time.Unix(sec, (ms-sec*1e3)*1e6).UTC())
			return nil
		}, true
	case s.Kind == Long && s.Logical == "timestamp-micros":
		return func(d *decoder, v reflect.Value) error {
			us, err := d.long()
			if err != nil {
				return err
			}
			sec := us / 1e6
			set(v, time.Unix(sec, (us-sec*1e6)*1e3).UTC())
			return nil
		}, true
	case s.Kind == Int && s.Logical == "date":
		return func(d *decoder, v reflect.Value) error {
			days, err := d.int()
			if err != nil {
				return err
			}
			set(v, epochDate.AddDate(0, 0, int(days)).UTC())
			return nil
		}, true
	}
	return nil, false
}

func uuidRead(s *Schema) (readFn, bool) {
	if s.Kind == Fixed && s.Size == 16 {
		return func(d *decoder, v reflect.Value) error {
			b, err := d.fixed(16)
			if err != nil {
				return err
			}
			reflect.Copy(v, reflect.ValueOf(b))
			return nil
		}, true
	}
	if s.Kind != String {
		return nil, false
	}
	return func(d *decoder, v reflect.Value) error {
		b, err := d.bytes()
		if err != nil {
			return err
		}
		u, err := parseUUID(string(b))
		if err != nil {
			return err
		}
		reflect.Copy(v, reflect.ValueOf(u[:]))
		return nil
	}, true
}

func (rc *readCompiler) array(t reflect.Type, s *Schema) (readFn, bool) {
	if t.Kind() != reflect.Slice {
		return nil, false
	}
	item, ok := rc.build(t.Elem(), s.Items)
	if !ok {
		return nil, false
	}
	return func(d *decoder, v reflect.Value) error {
		n, err := d.blockCount()
		if err != nil {
			return err
		}
		// checkBinary has bounded every count by the bytes left or the
		// item budget before this runs.
		sl := reflect.MakeSlice(t, 0, int(n))
		for n != 0 {
			have := sl.Len()
			if need := have + int(n); need > sl.Cap() {
				grown := reflect.MakeSlice(t, have, max(need, 2*sl.Cap()))
				reflect.Copy(grown, sl)
				sl = grown
			}
			sl = sl.Slice(0, have+int(n))
			for i := have; i < sl.Len(); i++ {
				if err := item(d, sl.Index(i)); err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
			}
			if n, err = d.blockCount(); err != nil {
				return err
			}
		}
		v.Set(sl)
		return nil
	}, true
}

func (rc *readCompiler) mapRead(t reflect.Type, s *Schema) (readFn, bool) {
	if t.Kind() != reflect.Map || t.Key().Kind() != reflect.String {
		return nil, false
	}
	val, ok := rc.build(t.Elem(), s.Values)
	if !ok {
		return nil, false
	}
	kt, et := t.Key(), t.Elem()
	return func(d *decoder, v reflect.Value) error {
		n, err := d.blockCount()
		if err != nil {
			return err
		}
		out := reflect.MakeMapWithSize(t, int(n))
		for n != 0 {
			for ; n > 0; n-- {
				kb, err := d.bytes()
				if err != nil {
					return fmt.Errorf("map key: %w", err)
				}
				k := reflect.ValueOf(string(kb)).Convert(kt)
				if out.MapIndex(k).IsValid() {
					return fmt.Errorf("duplicate map key %q", kb)
				}
				ev := reflect.New(et).Elem()
				if err := val(d, ev); err != nil {
					return fmt.Errorf("[%q]: %w", kb, err)
				}
				out.SetMapIndex(k, ev)
			}
			if n, err = d.blockCount(); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	}, true
}

func (rc *readCompiler) record(t reflect.Type, s *Schema) (readFn, bool) {
	if t.Kind() != reflect.Struct || rc.open[s] {
		return nil, false
	}
	rc.open[s] = true
	defer delete(rc.open, s)
	goFields, err := goFieldIndex(t)
	if err != nil {
		return nil, false // the plan refuses this type too
	}
	type fieldRead struct {
		field *goField // nil: skip the Avro field
		name  string
		fn    readFn
	}
	fields := make([]fieldRead, 0, len(s.Fields))
	for _, f := range s.Fields {
		gf, ok := goFields.lookup(f)
		if !ok {
			// The Go type does not hold it (the plan ignores it): skip.
			sk, ok := rc.skip(f.Type)
			if !ok {
				return nil, false
			}
			fields = append(fields, fieldRead{nil, f.Name, sk})
			continue
		}
		fn, ok := rc.build(gf.sf.Type, f.Type)
		if !ok {
			return nil, false
		}
		fields = append(fields, fieldRead{gf, f.Name, fn})
	}
	short := s.ShortName()
	return func(d *decoder, v reflect.Value) error {
		for i := range fields {
			f := &fields[i]
			if f.field == nil {
				if err := f.fn(d, v); err != nil {
					return fmt.Errorf("%s.%s: %w", short, f.name, err)
				}
				continue
			}
			if err := f.fn(d, f.field.of(v)); err != nil {
				return fmt.Errorf("%s.%s: %w", short, f.name, err)
			}
		}
		return nil
	}, true
}

// pointerRead decodes into a new value of elem with ef and stores a pointer
// to it (the read of a *elem field).
func pointerRead(elem reflect.Type, ef readFn) readFn {
	return func(d *decoder, v reflect.Value) error {
		nv := reflect.New(elem)
		if err := ef(d, nv.Elem()); err != nil {
			return err
		}
		v.Set(nv)
		return nil
	}
}

// union mirrors planner.union: the null branch is the zero value, other
// branches decode into the type if it fits them.
func (rc *readCompiler) union(t reflect.Type, s *Schema) (readFn, bool) {
	inner := t
	if t.Kind() == reflect.Pointer && t != ratPtrType {
		inner = t.Elem()
	}
	isPtr := inner != t
	type branch struct {
		null bool
		fn   readFn
		err  error
	}
	branches := make([]branch, len(s.Branches))
	for i, b := range s.Branches {
		if b.Kind == Null {
			branches[i].null = true
			continue
		}
		if _, err := compilePlan(inner, b); err != nil {
			branches[i].err = fmt.Errorf("union branch %s cannot be stored in Go type %v", b.unionKey(), t)
			continue
		}
		fn, ok := rc.build(inner, b)
		if !ok {
			return nil, false
		}
		branches[i].fn = fn
	}
	return func(d *decoder, v reflect.Value) error {
		i, err := d.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(branches)) {
			return fmt.Errorf("union branch index %d out of range", i)
		}
		b := &branches[i]
		switch {
		case b.null:
			v.SetZero()
			return nil
		case b.err != nil:
			return b.err
		case isPtr:
			nv := reflect.New(inner)
			if err := b.fn(d, nv.Elem()); err != nil {
				return err
			}
			v.Set(nv)
			return nil
		}
		return b.fn(d, v)
	}, true
}
