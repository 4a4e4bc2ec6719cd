package pii

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
)

// Sealed holds the wire forms of the personal-data fields of one value,
// made by [Encryptor.Seal]: for each field of the plan, the text form of
// its envelope (a string field) or the binary envelope (a []byte field).
// Release it once the wire forms have been copied.
type Sealed struct {
	buf  []byte // the wire forms, back to back
	ends []int  // ends[i]: end of field i's wire form in buf; it starts at ends[i-1] (or 0)
	work []byte // the binary envelope being made
	ad   []byte
}

var sealedPool = sync.Pool{New: func() any {
	return &Sealed{buf: make([]byte, 0, 512), ends: make([]int, 0, 8), work: make([]byte, 0, 256), ad: make([]byte, 0, 128)}
}}

// Field returns the wire form of field i of the plan (in the order of
// [Plan.Fields]): "pii:" and the envelope in unpadded base64url for a
// string field, the binary envelope for a []byte field, or nil for an
// empty field, which is written as it is (empty). The slice is valid until
// [Sealed.Release].
func (s *Sealed) Field(i int) []byte {
	from := 0
	if i > 0 {
		from = s.ends[i-1]
	}
	if from == s.ends[i] {
		return nil
	}
	return s.buf[from:s.ends[i]:s.ends[i]]
}

// Len returns the total length of the wire forms (to size an output
// buffer).
func (s *Sealed) Len() int { return len(s.buf) }

// Release returns s to a pool: neither s nor the slices [Sealed.Field]
// returned may be used afterwards.
func (s *Sealed) Release() {
	if cap(s.buf) <= 64<<10 && cap(s.work) <= 64<<10 {
		sealedPool.Put(s)
	}
}

// Seal encrypts the personal-data fields of v (a value of the plan's type,
// not a pointer) and returns their wire forms, without changing or
// copying v. Encoders that write the fields themselves (the Avro serde's
// direct encoder) write these instead of the plaintext; [Encryptor.Encrypt]
// is Seal plus a copy of the value. Empty fields stay empty. A field whose
// subject field is empty is an error: there is no subject to take a key
// from.
//
// One call reads 96 random bits from crypto/rand, N; field i of the plan
// is sealed with the nonce N + i (the low 64 bits of N plus i, modulo
// 2^64). The package doc ("Nonces") argues why nonces stay unique under a
// key.
func (e *Encryptor) Seal(ctx context.Context, p *Plan, v reflect.Value) (*Sealed, error) {
	s := sealedPool.Get().(*Sealed)
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	var (
		k     keyed
		base  [nonceSize]byte
		drawn bool
	)
	for i := range p.fields {
		f := &p.fields[i]
		fv := v.FieldByIndex(f.index)
		if fv.Len() == 0 {
			s.ends = append(s.ends, len(s.buf))
			continue
		}
		subject := v.FieldByIndex(f.subject).String()
		if subject == "" {
			s.Release()
			return nil, fmt.Errorf("pii: %v.%s holds personal data but its subject field %s is empty; set the data subject's ID before writing the event", p.t, f.name, f.subjKey)
		}
		if k.aead == nil || subject != k.subject {
			key, err := e.keys.GetOrCreate(ctx, subject)
			if err == nil {
				k, err = e.keyed(subject, key)
			} else {
				err = fmt.Errorf("pii: key of subject %q for %v.%s: %w", subject, p.t, f.name, err)
			}
			if err != nil {
				s.Release()
				return nil, err
			}
		}
		if !drawn {
			_, _ = rand.Read(base[:]) // never fails (Go 1.24+ crashes the program instead)
			drawn = true
		}
		w := append(s.work[:0], envelopeVersion)
		w = binary.BigEndian.AppendUint64(w, k.id)
		w = append(w, base[:4]...)
		w = binary.BigEndian.AppendUint64(w, binary.BigEndian.Uint64(base[4:])+uint64(i))
		s.ad = additionalData(s.ad[:0], w[:headerSize], subject, f.label)
		plainAt := len(w)
		if f.bytes {
			w = append(w, fv.Bytes()...)
		} else {
			w = append(w, fv.String()...)
		}
		// Sealed in place: the ciphertext overwrites the plaintext.
		w = k.aead.Seal(w[:plainAt], w[headerSize:plainAt], w[plainAt:], s.ad)
		s.work = w
		if f.bytes {
			s.buf = append(s.buf, w...)
		} else {
			s.buf = append(s.buf, StringPrefix...)
			s.buf = appendB64(s.buf, w)
		}
		s.ends = append(s.ends, len(s.buf))
	}
	return s, nil
}

// Encrypt returns a copy of v (a value of the plan's type, not a pointer)
// whose personal-data fields hold envelopes instead of plaintext; v is not
// changed. It is [Encryptor.Seal] with the wire forms set into the copy
// (the JSON serde uses it). Empty fields stay empty. A field whose subject
// field is empty is an error: there is no subject to take a key from.
func (e *Encryptor) Encrypt(ctx context.Context, p *Plan, v reflect.Value) (reflect.Value, error) {
	s, err := e.Seal(ctx, p, v)
	if err != nil {
		return reflect.Value{}, err
	}
	defer s.Release()
	out := reflect.New(p.t).Elem()
	out.Set(v)
	var all string // every text form, one allocation
	for i := range p.fields {
		f := &p.fields[i]
		b := s.Field(i)
		switch {
		case b == nil:
		case f.bytes:
			out.FieldByIndex(f.index).SetBytes(append([]byte(nil), b...))
		default:
			if all == "" {
				all = string(s.buf)
			}
			out.FieldByIndex(f.index).SetString(all[s.ends[i]-len(b) : s.ends[i]])
		}
	}
	return out, nil
}
