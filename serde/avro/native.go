package avro

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"time"
)

// This file converts between three forms of an Avro value:
//   - JSON defaults as parsed from a schema (numbers as json.Number),
//   - the "base" form of a logical type (int32/int64/[]byte),
//   - goavro's native form (time.Time for timestamps, *big.Rat for
//     decimals, map[string]any{branch: v} for non-null union values).

// defaultToNative converts the JSON default d of a field of type s to
// goavro's native form.
func defaultToNative(s *Schema, d any) (any, error) {
	switch s.Kind {
	case Null:
		if d != nil {
			return nil, fmt.Errorf("default of a null must be null, not %v", d)
		}
		return nil, nil
	case Boolean:
		b, ok := d.(bool)
		if !ok {
			return nil, fmt.Errorf("default of a boolean must be true or false, not %v", d)
		}
		return b, nil
	case Int, Long:
		n, ok := d.(json.Number)
		if !ok {
			return nil, fmt.Errorf("default of %s must be a number, not %v", s.Kind, d)
		}
		i, err := n.Int64()
		if err != nil {
			return nil, fmt.Errorf("default of %s must be an integer, not %v", s.Kind, d)
		}
		if s.Kind == Int {
			if i < math.MinInt32 || i > math.MaxInt32 {
				return nil, fmt.Errorf("default %v overflows int", d)
			}
			return toLogical(s, int32(i)), nil
		}
		return toLogical(s, i), nil
	case Float, Double:
		n, ok := d.(json.Number)
		if !ok {
			return nil, fmt.Errorf("default of %s must be a number, not %v", s.Kind, d)
		}
		f, err := n.Float64()
		if err != nil {
			return nil, fmt.Errorf("default of %s: %v", s.Kind, err)
		}
		if s.Kind == Float {
			return float32(f), nil
		}
		return f, nil
	case String, Enum:
		str, ok := d.(string)
		if !ok {
			return nil, fmt.Errorf("default of %s must be a string, not %v", s.Kind, d)
		}
		if s.Kind == Enum && !contains(s.Symbols, str) {
			return nil, fmt.Errorf("default %q is not a symbol of enum %s", str, s.Name)
		}
		return str, nil
	case Bytes, Fixed:
		str, ok := d.(string)
		if !ok {
			return nil, fmt.Errorf("default of %s must be a string of code points 0-255, not %v", s.Kind, d)
		}
		b := make([]byte, 0, len(str))
		for _, r := range str {
			if r > 255 {
				return nil, fmt.Errorf("default of %s has code point %U > 255", s.Kind, r)
			}
			b = append(b, byte(r))
		}
		if s.Kind == Fixed && len(b) != s.Size {
			return nil, fmt.Errorf("default of fixed %s has %d bytes, want %d", s.Name, len(b), s.Size)
		}
		return toLogical(s, b), nil
	case Array:
		arr, ok := d.([]any)
		if !ok {
			return nil, fmt.Errorf("default of an array must be an array, not %v", d)
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			v, err := defaultToNative(s.Items, e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case Map:
		m, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("default of a map must be an object, not %v", d)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			v, err := defaultToNative(s.Values, e)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case Record:
		m, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("default of record %s must be an object, not %v", s.Name, d)
		}
		out := make(map[string]any, len(s.Fields))
		for _, f := range s.Fields {
			fd, ok := m[f.Name]
			if !ok {
				if !f.HasDefault {
					return nil, fmt.Errorf("default of record %s lacks field %q", s.Name, f.Name)
				}
				fd = f.Default
			}
			v, err := defaultToNative(f.Type, fd)
			if err != nil {
				return nil, err
			}
			out[f.Name] = v
		}
		return out, nil
	case Union:
		// The default of a union is a value of its first branch.
		if len(s.Branches) == 0 {
			return nil, fmt.Errorf("a union needs at least one branch")
		}
		first := s.Branches[0]
		v, err := defaultToNative(first, d)
		if err != nil {
			return nil, fmt.Errorf("the default of a union must match its first branch (%s): %w", first.Kind, err)
		}
		return wrapUnion(first, v), nil
	}
	return nil, fmt.Errorf("unsupported schema kind %v", s.Kind)
}

// wrapUnion returns goavro's native form for value v of branch b.
func wrapUnion(b *Schema, v any) any {
	if b.Kind == Null {
		return nil
	}
	return map[string]any{b.unionKey(): v}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

var unixEpoch = time.Unix(0, 0).UTC()

// toLogical converts a base value (int32, int64, []byte) to goavro's
// native form for the logical type of s; values of types without a
// logical type that goavro maps are returned unchanged.
func toLogical(s *Schema, base any) any {
	switch s.Logical {
	case "timestamp-millis":
		if i, ok := base.(int64); ok {
			return time.UnixMilli(i).UTC()
		}
	case "timestamp-micros":
		if i, ok := base.(int64); ok {
			return time.UnixMicro(i).UTC()
		}
	case "date":
		if i, ok := base.(int32); ok && s.Kind == Int {
			return unixEpoch.AddDate(0, 0, int(i))
		}
	case "time-millis":
		if i, ok := base.(int32); ok && s.Kind == Int {
			return time.Duration(i) * time.Millisecond
		}
	case "time-micros":
		if i, ok := base.(int64); ok {
			return time.Duration(i) * time.Microsecond
		}
	case "decimal":
		if b, ok := base.([]byte); ok && s.Kind == Bytes {
			return ratFromTwos(b, s.Scale)
		}
	}
	return base
}

// fromLogical converts goavro's native form for the logical type of s
// back to its base value.
func fromLogical(s *Schema, native any) any {
	switch v := native.(type) {
	case time.Time:
		switch s.Logical {
		case "timestamp-millis":
			return v.UnixMilli()
		case "timestamp-micros":
			return v.UnixMicro()
		case "date":
			return int32(v.Unix() / 86400)
		}
	case time.Duration:
		switch s.Logical {
		case "time-millis":
			return int32(v / time.Millisecond)
		case "time-micros":
			return int64(v / time.Microsecond)
		}
	case *big.Rat:
		if s.Logical == "decimal" {
			n, err := ratToUnscaled(v, s.Scale)
			if err != nil {
				return native
			}
			return twosFromInt(n)
		}
	}
	return native
}

// ratToUnscaled returns r * 10^scale, or an error if that is not an
// integer (money is never rounded silently).
func ratToUnscaled(r *big.Rat, scale int) (*big.Int, error) {
	m := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(scale)))
	if !m.IsInt() {
		return nil, fmt.Errorf("decimal %s has more than %d fraction digits; round it explicitly before storing", r.FloatString(scale+4), scale)
	}
	return new(big.Int).Set(m.Num()), nil
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

func ratFromTwos(b []byte, scale int) *big.Rat {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return new(big.Rat).SetFrac(n, pow10(scale))
}

func twosFromInt(n *big.Int) []byte {
	switch n.Sign() {
	case 0:
		return []byte{0}
	case 1:
		b := n.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// Negative: the shortest two's complement form (as goavro writes it).
	length := uint(n.BitLen()/8+1) * 8
	b := new(big.Int).Add(n, new(big.Int).Lsh(big.NewInt(1), length)).Bytes()
	if len(b) >= 2 && b[0] == 0xff && b[1]&0x80 != 0 {
		b = b[1:]
	}
	return b
}
