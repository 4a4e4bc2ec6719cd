package avro

import (
	"errors"
	"fmt"
	"math"
)

// goavro trusts block counts from the wire: an array block count of 2^31
// makes it allocate tens of gigabytes before reading a single item. Its
// limits (goavro.MaxBlockCount, goavro.MaxBlockSize) are package
// variables, shared by every user of goavro in the process, so this
// package never changes them. Instead every payload is first walked by
// checkBinary, which reads no more than the payload holds and allocates
// nothing: each block count must fit the bytes that remain (an item takes
// at least one byte) unless the items are zero-sized, and those are
// limited by a per-payload item budget.

var errShort = errors.New("payload ends early")

type guard struct {
	buf    []byte
	budget int64 // items of zero-size types still allowed
	depth  int
}

// checkBinary validates that buf is a well-formed encoding of s with no
// trailing bytes, within the item budget. maxItems bounds the number of
// zero-size array/map items (such as nulls).
func checkBinary(s *Schema, buf []byte, maxItems int64) error {
	g := guard{buf: buf, budget: maxItems}
	if err := g.walk(s); err != nil {
		return err
	}
	if len(g.buf) != 0 {
		return fmt.Errorf("%d bytes left over after the value: the payload does not match its schema", len(g.buf))
	}
	return nil
}

func (g *guard) long() (int64, error) {
	var u uint64
	for i := 0; i < 10; i++ {
		if len(g.buf) == 0 {
			return 0, errShort
		}
		b := g.buf[0]
		g.buf = g.buf[1:]
		u |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

func (g *guard) skip(n int64) error {
	if n < 0 || n > int64(len(g.buf)) {
		return errShort
	}
	g.buf = g.buf[n:]
	return nil
}

// hasBlocks reports whether s contains arrays or maps, the only types
// whose decoding allocates by a count from the wire (goavro checks
// bytes and string lengths against the remaining input itself).
func hasBlocks(s *Schema, seen map[*Schema]bool) bool {
	if seen[s] {
		return false
	}
	seen[s] = true
	switch s.Kind {
	case Array, Map:
		return true
	case Record:
		for _, f := range s.Fields {
			if hasBlocks(f.Type, seen) {
				return true
			}
		}
	case Union:
		for _, b := range s.Branches {
			if hasBlocks(b, seen) {
				return true
			}
		}
	}
	return false
}

// nonEmpty reports whether values of s take at least one byte.
func nonEmpty(s *Schema, seen map[*Schema]bool) bool {
	switch s.Kind {
	case Null:
		return false
	case Fixed:
		return s.Size > 0
	case Record:
		if seen[s] {
			return false
		}
		seen[s] = true
		defer delete(seen, s)
		for _, f := range s.Fields {
			if nonEmpty(f.Type, seen) {
				return true
			}
		}
		return false
	}
	return true
}

func (g *guard) walk(s *Schema) error {
	if g.depth >= 256 {
		return errors.New("nesting deeper than 256 levels")
	}
	g.depth++
	err := g.value(s)
	g.depth--
	return err
}

func (g *guard) value(s *Schema) error {
	switch s.Kind {
	case Null:
		return nil
	case Boolean:
		if len(g.buf) == 0 {
			return errShort
		}
		if g.buf[0] > 1 {
			return fmt.Errorf("invalid boolean byte %d", g.buf[0])
		}
		g.buf = g.buf[1:]
		return nil
	case Int:
		v, err := g.long()
		if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
			err = fmt.Errorf("int value %d out of range", v)
		}
		return err
	case Long, Enum:
		v, err := g.long()
		if err == nil && s.Kind == Enum && (v < 0 || v >= int64(len(s.Symbols))) {
			err = fmt.Errorf("enum %s index %d out of range", s.Name, v)
		}
		return err
	case Float:
		return g.skip(4)
	case Double:
		return g.skip(8)
	case Bytes, String:
		n, err := g.long()
		if err != nil {
			return err
		}
		return g.skip(n)
	case Fixed:
		return g.skip(int64(s.Size))
	case Record:
		for _, f := range s.Fields {
			if err := g.walk(f.Type); err != nil {
				return fmt.Errorf("%s.%s: %w", s.ShortName(), f.Name, err)
			}
		}
		return nil
	case Union:
		i, err := g.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(s.Branches)) {
			return fmt.Errorf("union branch index %d out of range", i)
		}
		return g.walk(s.Branches[i])
	case Array, Map:
		item := s.Items
		if s.Kind == Map {
			item = s.Values
		}
		sized := s.Kind == Map || nonEmpty(item, map[*Schema]bool{})
		for {
			n, err := g.long()
			if err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
			if n < 0 {
				if n == math.MinInt64 {
					return errors.New("invalid block count")
				}
				n = -n
				if _, err := g.long(); err != nil { // block size in bytes
					return err
				}
			}
			if sized {
				if n > int64(len(g.buf)) {
					return fmt.Errorf("block of %d items in %d remaining bytes", n, len(g.buf))
				}
			} else {
				if n > g.budget {
					return fmt.Errorf("more than the allowed %d zero-size items (see WithMaxItems)", g.budget)
				}
				g.budget -= n
			}
			for ; n > 0; n-- {
				if s.Kind == Map {
					k, err := g.long()
					if err != nil {
						return err
					}
					if err := g.skip(k); err != nil {
						return err
					}
				}
				if err := g.walk(item); err != nil {
					return err
				}
			}
		}
	}
	return fmt.Errorf("unsupported schema kind %s", s.Kind)
}
