package pii

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"
)

// The text form of envelopes is unpadded base64url (RFC 4648 §5). These
// are base64.RawURLEncoding's encoder and decoder, made faster for the
// short envelopes of personal-data fields (a third of the cost of an
// encrypted field was base64): the encoder looks up two characters at a
// time, the decoder writes into storage grown once and also reads from a
// string without converting it first. Both produce and accept exactly
// what RawURLEncoding does (FuzzB64 compares them), except that the
// decoder refuses the line breaks the standard one skips.

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// b64pairs holds the two characters of every 12-bit value, the first in
// the high byte.
var b64pairs = func() (t [4096]uint16) {
	for i := range t {
		t[i] = uint16(b64alphabet[i>>6])<<8 | uint16(b64alphabet[i&63])
	}
	return t
}()

// appendB64 appends the unpadded base64url encoding of src to dst.
func appendB64(dst, src []byte) []byte {
	n := base64.RawURLEncoding.EncodedLen(len(src))
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	// Six bytes (of eight read) to eight characters at a time.
	for len(src) >= 8 && len(out) >= 8 {
		v := binary.BigEndian.Uint64(src)
		binary.BigEndian.PutUint64(out, uint64(b64pairs[v>>52])<<48|uint64(b64pairs[v>>40&0xfff])<<32|
			uint64(b64pairs[v>>28&0xfff])<<16|uint64(b64pairs[v>>16&0xfff]))
		src, out = src[6:], out[8:]
	}
	for len(src) >= 3 && len(out) >= 4 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		binary.BigEndian.PutUint32(out, uint32(b64pairs[v>>12])<<16|uint32(b64pairs[v&0xfff]))
		src, out = src[3:], out[4:]
	}
	switch len(src) {
	case 1:
		v := uint(src[0]) << 4
		out[0], out[1] = b64alphabet[v>>6], b64alphabet[v&63]
	case 2:
		v := uint(src[0])<<10 | uint(src[1])<<2
		out[0], out[1], out[2] = b64alphabet[v>>12], b64alphabet[v>>6&63], b64alphabet[v&63]
	}
	return dst[:len(dst)+n]
}

// decodeB64 appends the unpadded base64url decoding of s to dst, like
// base64.RawURLEncoding.AppendDecode but also from a string, without
// converting it to a []byte first (a copy per field decoded).
func decodeB64[T string | []byte](dst []byte, s T) ([]byte, error) {
	if len(s)%4 == 1 {
		return dst, errB64
	}
	n := len(s) / 4 * 3
	switch len(s) % 4 {
	case 2:
		n++
	case 3:
		n += 2
	}
	start := len(dst)
	dst = slices.Grow(dst, n)
	out := dst[start : start+n]
	// Eight characters to six bytes (of eight written) at a time.
	for len(s) >= 8 && len(out) >= 8 {
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		e, f, g, h := b64dec[s[4]], b64dec[s[5]], b64dec[s[6]], b64dec[s[7]]
		if a|b|c|d|e|f|g|h == 0xff {
			return dst, errB64
		}
		binary.BigEndian.PutUint64(out, uint64(a)<<58|uint64(b)<<52|uint64(c)<<46|uint64(d)<<40|
			uint64(e)<<34|uint64(f)<<28|uint64(g)<<22|uint64(h)<<16)
		s, out = s[8:], out[6:]
	}
	for len(s) >= 4 && len(out) >= 3 {
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		if a|b|c|d == 0xff {
			return dst, errB64
		}
		out[0], out[1], out[2] = a<<2|b>>4, b<<4|c>>2, c<<6|d
		s, out = s[4:], out[3:]
	}
	switch len(s) {
	case 2:
		a, b := b64dec[s[0]], b64dec[s[1]]
		if a|b == 0xff {
			return dst, errB64
		}
		out[0] = a<<2 | b>>4
	case 3:
		a, b, c := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]]
		if a|b|c == 0xff {
			return dst, errB64
		}
		out[0], out[1] = a<<2|b>>4, b<<4|c>>2
	}
	return dst[:start+n], nil
}

var errB64 = errors.New("not unpadded base64url")

// b64dec maps a character to its 6-bit value, or to 0xff if it is not
// in the alphabet (0xff has bits that no OR of 6-bit values has).
var b64dec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(b64alphabet) {
		t[b64alphabet[i]] = byte(i)
	}
	return t
}()
