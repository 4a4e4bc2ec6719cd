package pii

import "errors"

// decodeB64 appends the unpadded base64url decoding of s to dst, like
// base64.RawURLEncoding.AppendDecode but also from a string, without
// converting it to a []byte first (a copy per field decoded).
func decodeB64[T string | []byte](dst []byte, s T) ([]byte, error) {
	for len(s) >= 4 {
		a, b, c, d := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]], b64dec[s[3]]
		if a|b|c|d == 0xff {
			return dst, errB64
		}
		dst = append(dst, a<<2|b>>4, b<<4|c>>2, c<<6|d)
		s = s[4:]
	}
	switch len(s) {
	case 0:
	case 2:
		a, b := b64dec[s[0]], b64dec[s[1]]
		if a|b == 0xff {
			return dst, errB64
		}
		dst = append(dst, a<<2|b>>4)
	case 3:
		a, b, c := b64dec[s[0]], b64dec[s[1]], b64dec[s[2]]
		if a|b|c == 0xff {
			return dst, errB64
		}
		dst = append(dst, a<<2|b>>4, b<<4|c>>2)
	default:
		return dst, errB64
	}
	return dst, nil
}

var errB64 = errors.New("not unpadded base64url")

var b64dec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()
