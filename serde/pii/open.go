package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// scratch is the reusable work space of one Decrypt or DecryptFields call.
type scratch struct {
	buf []byte // decoded envelope, then the plaintext after it
	out []byte // decrypted text of string fields
	ad  []byte
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{buf: make([]byte, 0, 1024), out: make([]byte, 0, 256), ad: make([]byte, 0, 128)}
}}

// keep keeps b's storage as the scratch buffer if it grew.
func (sc *scratch) keep(b []byte) {
	if cap(b) > cap(sc.buf) {
		sc.buf = b[:0]
	}
}

func putScratch(sc *scratch) {
	if cap(sc.buf) <= 64<<10 && cap(sc.out) <= 64<<10 {
		scratchPool.Put(sc)
	}
}

// opening is the state of one Decrypt or DecryptFields call: the value,
// the key of the last subject seen, and the plaintexts of string fields,
// which are set from one string at the end.
type opening struct {
	e        *Encryptor
	p        *Plan
	v        reflect.Value // the struct, addressable
	sc       *scratch
	k        keyed
	kerr     error
	haveKey  bool
	redacted []string
	plains   [8][3]int // field index, start and end of its text in sc.out
	nplain   int
}

func (o *opening) init(e *Encryptor, p *Plan, v reflect.Value) {
	o.e, o.p, o.v = e, p, v
	o.sc = scratchPool.Get().(*scratch)
	o.sc.out = o.sc.out[:0]
}

// openText decodes the text form s (an envelope's, without the "pii:" prefix)
// of field fi into the scratch buffer and opens it.
func openText[T string | []byte](ctx context.Context, o *opening, fi int, s T) error {
	raw, err := decodeB64(o.sc.buf[:0], s)
	if err != nil {
		return &DecryptError{Subject: o.v.FieldByIndex(o.p.fields[fi].subject).String(), Field: o.p.fields[fi].label, Reason: "the envelope is not unpadded base64url"}
	}
	o.sc.keep(raw)
	return o.open(ctx, fi, raw)
}

// open decrypts the binary envelope raw of field fi and sets the field
// (or records the plaintext of a string field for finish). raw is in the
// scratch buffer for a string field; for a []byte field it may alias the
// field's storage or the decoder's input, and is never written.
func (o *opening) open(ctx context.Context, fi int, raw []byte) error {
	f := &o.p.fields[fi]
	fv := o.v.FieldByIndex(f.index)
	subject := o.v.FieldByIndex(f.subject).String()
	env, err := parseEnvelope(raw)
	if err != nil {
		return &DecryptError{Subject: subject, Field: f.label, Reason: err.Error()}
	}
	if !o.haveKey || subject != o.k.subject {
		o.haveKey = true
		var key Key
		key, o.kerr = o.e.keys.Get(ctx, subject, env.keyID)
		o.k = keyed{subject: subject}
		if o.kerr == nil {
			if o.k, err = o.e.keyed(subject, key); err != nil {
				return err
			}
		}
	}
	if errors.Is(o.kerr, ErrKeyNotFound) || o.kerr == nil && o.k.id != env.keyID {
		fv.SetZero()
		o.redacted = append(o.redacted, f.name)
		return nil
	}
	if o.kerr != nil {
		return fmt.Errorf("pii: key of subject %q for %v.%s: %w", subject, o.p.t, f.name, o.kerr)
	}
	sc := o.sc
	sc.ad = additionalData(sc.ad[:0], env.header, subject, f.label)
	// Decrypt into the scratch buffer, after the envelope when that is
	// there too (never into a []byte field's own storage, which may be
	// shared with the decoder's input).
	dst := sc.buf[:0]
	if !f.bytes {
		dst = raw[len(raw):]
	}
	plain, err := o.k.aead.Open(dst, env.nonce, env.sealed, sc.ad)
	if err != nil {
		return &DecryptError{Subject: subject, Field: f.label, Reason: "the ciphertext does not authenticate under the subject's key"}
	}
	switch {
	case f.bytes:
		fv.SetBytes(append([]byte(nil), plain...))
		sc.keep(plain)
	case o.nplain < len(o.plains):
		// Collected, and set by finish from one string for all fields.
		o.plains[o.nplain] = [3]int{fi, len(sc.out), len(sc.out) + len(plain)}
		sc.out = append(sc.out, plain...)
		o.nplain++
	default:
		fv.SetString(string(plain))
	}
	return nil
}

// finish sets the string fields and the Redactable, and frees the
// scratch space.
func (o *opening) finish() {
	if o.nplain > 0 {
		all := string(o.sc.out)
		for _, pl := range o.plains[:o.nplain] {
			o.v.FieldByIndex(o.p.fields[pl[0]].index).SetString(all[pl[1]:pl[2]])
		}
	}
	o.v.FieldByIndex(o.p.redact).Addr().Interface().(*Redactable).setRedacted(o.redacted)
	putScratch(o.sc)
	o.sc = nil
}

// Decrypt replaces the envelopes in the personal-data fields of the value
// ptr points to with their plaintext, in place. A field whose subject has
// no key any more (erased: [ErrKeyNotFound], or a key with another ID) is
// set to its zero value and reported by [Redacted]. Empty fields and
// strings without the envelope prefix (plaintext written before the field
// was marked) are left as they are. A ciphertext that does not
// authenticate is an error matching [ErrDecrypt]; an error of the key
// store other than ErrKeyNotFound is returned as it is (retry later: an
// unreachable key store must never look like an erasure).
func (e *Encryptor) Decrypt(ctx context.Context, p *Plan, ptr reflect.Value) error {
	var o opening
	o.init(e, p, ptr.Elem())
	for fi := range p.fields {
		f := &p.fields[fi]
		fv := o.v.FieldByIndex(f.index)
		var err error
		if f.bytes {
			b := fv.Bytes()
			if len(b) == 0 || b[0] != envelopeVersion {
				continue // empty, or plaintext written before the field was marked
			}
			err = o.open(ctx, fi, b)
		} else {
			s := fv.String()
			if len(s) < len(StringPrefix) || s[:len(StringPrefix)] != StringPrefix {
				continue
			}
			err = openText(ctx, &o, fi, s[len(StringPrefix):])
		}
		if err != nil {
			putScratch(o.sc)
			return err
		}
	}
	o.finish()
	return nil
}

// DecryptFields is [Encryptor.Decrypt] for a decoder that kept the
// personal-data fields aside instead of setting them (the Avro serde's
// direct decoder: it saves converting each envelope to a string first).
// wire[i] is the wire form of field i of the plan (in the order of
// [Plan.Fields]) as read: the bytes of the text form for a string field,
// the binary envelope for a []byte field; empty for an empty field. It
// may alias the decoder's input, which is neither written nor retained.
// DecryptFields sets every personal-data field of the value ptr points
// to: to its plaintext, to the zero value when redacted (as Decrypt), to
// its wire form itself when that is no envelope (plaintext written before
// the field was marked), or leaves it empty. Errors are as for Decrypt.
func (e *Encryptor) DecryptFields(ctx context.Context, p *Plan, ptr reflect.Value, wire [][]byte) error {
	if len(wire) != len(p.fields) {
		return fmt.Errorf("pii: DecryptFields of %v got %d wire forms for %d fields", p.t, len(wire), len(p.fields))
	}
	var o opening
	o.init(e, p, ptr.Elem())
	for fi := range p.fields {
		f := &p.fields[fi]
		b := wire[fi]
		var err error
		switch {
		case len(b) == 0:
			continue
		case f.bytes && b[0] == envelopeVersion:
			err = o.open(ctx, fi, b)
		case f.bytes:
			o.v.FieldByIndex(f.index).SetBytes(append([]byte(nil), b...))
		case len(b) >= len(StringPrefix) && string(b[:len(StringPrefix)]) == StringPrefix:
			err = openText(ctx, &o, fi, b[len(StringPrefix):])
		default:
			o.v.FieldByIndex(f.index).SetString(string(b))
		}
		if err != nil {
			putScratch(o.sc)
			return err
		}
	}
	o.finish()
	return nil
}
