package avro

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"time"
)

// Plans for integers and the logical types (timestamps, dates, decimals,
// UUIDs), and the map recycling of the goavro encode path.

// encState recycles the maps of goavro's native form between encodes:
// goavro does not keep them after BinaryFromNative returns. Record maps
// are not cleared: every field of the record is assigned on each encode,
// and goavro ignores keys that are not fields of the record being
// written. Union maps must hold exactly one key, so they are emptied. A
// nil *encState allocates fresh maps.
type encState struct {
	freeRec, usedRec []map[string]any
	freeUni, usedUni []map[string]any
}

func (st *encState) recordMap(n int) map[string]any {
	if st == nil {
		return make(map[string]any, n)
	}
	var m map[string]any
	if k := len(st.freeRec); k > 0 {
		m, st.freeRec = st.freeRec[k-1], st.freeRec[:k-1]
	} else {
		m = make(map[string]any, n)
	}
	st.usedRec = append(st.usedRec, m)
	return m
}

func (st *encState) unionMap() map[string]any {
	if st == nil {
		return make(map[string]any, 1)
	}
	var m map[string]any
	if k := len(st.freeUni); k > 0 {
		m, st.freeUni = st.freeUni[k-1], st.freeUni[:k-1]
	} else {
		m = make(map[string]any, 1)
	}
	st.usedUni = append(st.usedUni, m)
	return m
}

// reset makes all maps handed out reusable.
func (st *encState) reset() {
	st.freeRec = append(st.freeRec, st.usedRec...)
	clear(st.usedRec)
	st.usedRec = st.usedRec[:0]
	for _, m := range st.usedUni {
		for k := range m {
			delete(m, k)
		}
		st.freeUni = append(st.freeUni, m)
	}
	clear(st.usedUni)
	st.usedUni = st.usedUni[:0]
}

func intPlan(t reflect.Type, s *Schema) (*plan, error) {
	lo, hi, signed, ok := intRange(t.Kind())
	if !ok {
		return nil, mismatch(t, s)
	}
	isInt := s.Kind == Int
	if isInt && (lo < math.MinInt32 || hi > math.MaxInt32) {
		// int64 into an Avro int: allowed, checked per value.
		lo, hi = max(lo, math.MinInt32), min(hi, math.MaxInt32)
	}
	return &plan{
		enc: func(v reflect.Value, st *encState) (any, error) {
			var i int64
			if signed {
				i = v.Int()
			} else {
				i = int64(v.Uint())
			}
			if i < lo || i > hi {
				return nil, fmt.Errorf("%d overflows Avro %s", i, s.Kind)
			}
			if isInt {
				return int32(i), nil
			}
			return i, nil
		},
		dec: func(n any, v reflect.Value) error {
			var i int64
			switch x := fromLogical(s, n).(type) {
			case int32:
				i = int64(x)
			case int64:
				i = x
			default:
				return nativeErr(n, s)
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
		},
	}, nil
}

func timePlan(t reflect.Type, s *Schema) (*plan, error) {
	ok := (s.Kind == Long && (s.Logical == "timestamp-millis" || s.Logical == "timestamp-micros")) ||
		(s.Kind == Int && s.Logical == "date")
	if !ok {
		return nil, mismatch(t, s)
	}
	return &plan{
		enc: func(v reflect.Value, st *encState) (any, error) { return v.Interface().(time.Time), nil },
		dec: func(n any, v reflect.Value) error {
			tm, ok := n.(time.Time)
			if !ok {
				return nativeErr(n, s)
			}
			if v.CanAddr() {
				*v.Addr().Interface().(*time.Time) = tm // no boxing
			} else {
				v.Set(reflect.ValueOf(tm))
			}
			return nil
		},
	}, nil
}

func decimalPlan(t reflect.Type, s *Schema) (*plan, error) {
	if s.Kind != Bytes || s.Logical != "decimal" {
		return nil, mismatch(t, s)
	}
	isPtr := t == ratPtrType
	limit := pow10(s.Precision)
	return &plan{
		enc: func(v reflect.Value, st *encState) (any, error) {
			r, _, err := decimalOf(v, isPtr, s, limit)
			if err != nil {
				return nil, err
			}
			return r, nil
		},
		dec: func(n any, v reflect.Value) error {
			r, ok := n.(*big.Rat)
			if !ok {
				return nativeErr(n, s)
			}
			if isPtr {
				v.Set(reflect.ValueOf(new(big.Rat).Set(r)))
			} else {
				v.Set(reflect.ValueOf(*new(big.Rat).Set(r)))
			}
			return nil
		},
	}, nil
}

func uuidPlan(t reflect.Type, s *Schema) (*plan, error) {
	if s.Kind == Fixed && s.Size == 16 {
		return &plan{
			enc: func(v reflect.Value, st *encState) (any, error) {
				b := make([]byte, 16)
				reflect.Copy(reflect.ValueOf(b), v)
				return b, nil
			},
			dec: func(n any, v reflect.Value) error {
				b, ok := n.([]byte)
				if !ok || len(b) != 16 {
					return nativeErr(n, s)
				}
				reflect.Copy(v, reflect.ValueOf(b))
				return nil
			},
		}, nil
	}
	if s.Kind != String {
		return nil, mismatch(t, s)
	}
	return &plan{
		enc: func(v reflect.Value, st *encState) (any, error) {
			var b [16]byte
			reflect.Copy(reflect.ValueOf(b[:]), v)
			return formatUUID(b), nil
		},
		dec: func(n any, v reflect.Value) error {
			str, ok := n.(string)
			if !ok {
				return nativeErr(n, s)
			}
			b, err := parseUUID(str)
			if err != nil {
				return err
			}
			reflect.Copy(v, reflect.ValueOf(b[:]))
			return nil
		},
	}, nil
}

func formatUUID(b [16]byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:])
	return string(buf[:])
}

func parseUUID(s string) ([16]byte, error) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, fmt.Errorf("%q is not a UUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(b[:], []byte(h)); err != nil {
		return b, fmt.Errorf("%q is not a UUID: %v", s, err)
	}
	return b, nil
}

// intRange returns the range of values of a Go integer kind that an Avro
// int or long can be stored in, and whether the kind is signed; ok is false
// for other kinds (uint64 and uint do not fit a long).
func intRange(k reflect.Kind) (lo, hi int64, signed, ok bool) {
	switch k {
	case reflect.Int8:
		return math.MinInt8, math.MaxInt8, true, true
	case reflect.Int16:
		return math.MinInt16, math.MaxInt16, true, true
	case reflect.Int32:
		return math.MinInt32, math.MaxInt32, true, true
	case reflect.Int, reflect.Int64:
		return math.MinInt64, math.MaxInt64, true, true
	case reflect.Uint8:
		return 0, math.MaxUint8, false, true
	case reflect.Uint16:
		return 0, math.MaxUint16, false, true
	case reflect.Uint32:
		return 0, math.MaxUint32, false, true
	}
	return 0, 0, false, false
}

// decimalOf returns the *big.Rat held by v (a big.Rat, or a *big.Rat when
// isPtr) and its unscaled value for the decimal schema s, checking that it
// is exact at s.Scale and fits s.Precision (limit = 10^precision).
func decimalOf(v reflect.Value, isPtr bool, s *Schema, limit *big.Int) (*big.Rat, *big.Int, error) {
	var r *big.Rat
	if isPtr {
		if v.IsNil() {
			return nil, nil, fmt.Errorf("nil *big.Rat: use a zero value or make the field nullable")
		}
		r = v.Interface().(*big.Rat)
	} else if v.CanAddr() {
		r = v.Addr().Interface().(*big.Rat)
	} else {
		rv := v.Interface().(big.Rat)
		r = &rv
	}
	n, err := ratToUnscaled(r, s.Scale)
	if err != nil {
		return nil, nil, err
	}
	if new(big.Int).Abs(n).Cmp(limit) >= 0 {
		return nil, nil, fmt.Errorf("decimal %s exceeds precision %d", r.FloatString(s.Scale), s.Precision)
	}
	return r, n, nil
}
