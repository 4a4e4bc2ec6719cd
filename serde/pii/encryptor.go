package pii

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// DefaultCipherCache is the default number of prepared ciphers an
// [Encryptor] keeps ([WithCipherCache]).
const DefaultCipherCache = 4096

// Encryptor encrypts and decrypts the personal-data fields of events for
// the serdes (serde.JSON.Encryptor, avro.WithEncryption), with keys from a
// [KeyStore]. Create it with [NewEncryptor]; it is safe for concurrent use.
//
// It keeps up to [DefaultCipherCache] prepared AES-GCM ciphers (about 1
// KiB each: the expanded AES key and GCM tables), keyed by subject and key
// ID, because preparing one costs more than encrypting a short field. The
// key store stays the authority: every decode asks it for the subject's
// key first, so an erased key is never used, even while its cipher is
// still cached.
type Encryptor struct {
	keys KeyStore
	max  int

	mu      sync.RWMutex
	ciphers map[uint64]cachedCipher // by key ID
}

type cachedCipher struct {
	subject string
	aead    cipher.AEAD
}

// Option configures an [Encryptor].
type Option func(*Encryptor)

// WithCipherCache sets how many prepared ciphers the encryptor keeps
// (default [DefaultCipherCache]; at least 1).
func WithCipherCache(n int) Option { return func(e *Encryptor) { e.max = max(n, 1) } }

// NewEncryptor returns an encryptor that takes keys from keys.
func NewEncryptor(keys KeyStore, opts ...Option) *Encryptor {
	e := &Encryptor{keys: keys, max: DefaultCipherCache, ciphers: map[uint64]cachedCipher{}}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Keys returns the encryptor's key store.
func (e *Encryptor) Keys() KeyStore { return e.keys }

func (e *Encryptor) aead(subject string, k Key) (cipher.AEAD, error) {
	e.mu.RLock()
	c, ok := e.ciphers[k.ID]
	e.mu.RUnlock()
	if ok && c.subject == subject {
		return c.aead, nil
	}
	if err := k.Valid(); err != nil {
		return nil, fmt.Errorf("key store returned a bad key for subject %q: %w", subject, err)
	}
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if len(e.ciphers) >= e.max {
		for old := range e.ciphers { // evict one, in the map's random order
			delete(e.ciphers, old)
			break
		}
	}
	e.ciphers[k.ID] = cachedCipher{subject: subject, aead: a}
	e.mu.Unlock()
	return a, nil
}

// scratch is the reusable work space of one Encrypt or Decrypt call.
type scratch struct {
	buf    []byte
	out    []byte // decrypted text of string fields
	ad     []byte
	nonces []byte
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{buf: make([]byte, 0, 1024), out: make([]byte, 0, 256), ad: make([]byte, 0, 128), nonces: make([]byte, 0, 4*nonceSize)}
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

// keyFor returns the cipher of subject's key, from GetOrCreate (create) or
// Get.
type keyed struct {
	subject string
	id      uint64
	aead    cipher.AEAD
}

// Encrypt returns a copy of v (a value of the plan's type, not a pointer)
// whose personal-data fields hold envelopes instead of plaintext; v is not
// changed. Empty fields stay empty. A field whose subject field is empty is
// an error: there is no subject to take a key from.
func (e *Encryptor) Encrypt(ctx context.Context, p *Plan, v reflect.Value) (reflect.Value, error) {
	out := reflect.New(p.t).Elem()
	out.Set(v)
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	// One read of the random source for every field's nonce.
	nonces := append(sc.nonces[:0], make([]byte, len(p.fields)*nonceSize)...)
	sc.nonces = nonces
	_, _ = rand.Read(nonces) // never fails (Go 1.24+ crashes the program instead)
	work := sc.buf[:0]
	var (
		k     keyed
		texts strings.Builder // every string field's text, one allocation
		ends  [8]int
		endsN = ends[:0]
	)
	// Encrypt into work (binary envelopes, back to back), then write the
	// text forms and bytes fields.
	type sealed struct{ from, to int }
	var sealedBuf [8]sealed
	seals := sealedBuf[:0]
	for i, f := range p.fields {
		fv := out.FieldByIndex(f.index)
		if fv.Len() == 0 {
			seals = append(seals, sealed{-1, -1})
			continue
		}
		subject := out.FieldByIndex(f.subject).String()
		if subject == "" {
			return reflect.Value{}, fmt.Errorf("pii: %v.%s holds personal data but its subject field %s is empty; set the data subject's ID before writing the event", p.t, f.name, f.subjKey)
		}
		if k.aead == nil || subject != k.subject {
			key, err := e.keys.GetOrCreate(ctx, subject)
			if err != nil {
				return reflect.Value{}, fmt.Errorf("pii: key of subject %q for %v.%s: %w", subject, p.t, f.name, err)
			}
			if k, err = e.keyed(subject, key); err != nil {
				return reflect.Value{}, err
			}
		}
		from := len(work)
		work = append(work, envelopeVersion)
		work = binary.BigEndian.AppendUint64(work, k.id)
		work = append(work, nonces[i*nonceSize:(i+1)*nonceSize]...)
		sc.ad = additionalData(sc.ad[:0], work[from:from+headerSize], subject, f.label)
		plainAt := len(work)
		if f.bytes {
			work = append(work, fv.Bytes()...)
		} else {
			work = append(work, fv.String()...)
		}
		work = k.aead.Seal(work[:plainAt], work[from+headerSize:plainAt], work[plainAt:], sc.ad)
		seals = append(seals, sealed{from, len(work)})
	}
	sc.keep(work)
	size := 0
	for i, f := range p.fields {
		if s := seals[i]; s.from >= 0 && !f.bytes {
			size += len(StringPrefix) + base64.RawURLEncoding.EncodedLen(s.to-s.from)
		}
	}
	texts.Grow(size)
	var b64 [512]byte
	for i, f := range p.fields {
		s := seals[i]
		if s.from < 0 {
			endsN = append(endsN, texts.Len())
			continue
		}
		env := work[s.from:s.to]
		if f.bytes {
			out.FieldByIndex(f.index).SetBytes(append([]byte(nil), env...))
			endsN = append(endsN, texts.Len())
			continue
		}
		texts.WriteString(StringPrefix)
		n := base64.RawURLEncoding.EncodedLen(len(env))
		var enc []byte
		if n <= len(b64) {
			enc = b64[:n]
		} else {
			enc = make([]byte, n)
		}
		base64.RawURLEncoding.Encode(enc, env)
		texts.Write(enc)
		endsN = append(endsN, texts.Len())
	}
	all := texts.String()
	start := 0
	for i, f := range p.fields {
		if seals[i].from >= 0 && !f.bytes {
			out.FieldByIndex(f.index).SetString(all[start:endsN[i]])
		}
		start = endsN[i]
	}
	return out, nil
}

func (e *Encryptor) keyed(subject string, k Key) (keyed, error) {
	a, err := e.aead(subject, k)
	if err != nil {
		return keyed{}, fmt.Errorf("pii: %w", err)
	}
	return keyed{subject: subject, id: k.ID, aead: a}, nil
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
	v := ptr.Elem()
	var (
		redacted []string
		plains   [8][3]int // field index, start and end of its text in sc.out
		nplain   int
	)
	sc := scratchPool.Get().(*scratch)
	sc.out = sc.out[:0]
	defer putScratch(sc)
	var (
		k       keyed
		kerr    error
		haveKey bool
	)
	for fi, f := range p.fields {
		fv := v.FieldByIndex(f.index)
		var raw []byte
		if f.bytes {
			b := fv.Bytes()
			if len(b) == 0 || b[0] != envelopeVersion {
				continue // empty, or plaintext written before the field was marked
			}
			raw = b
		} else {
			s := fv.String()
			if len(s) < len(StringPrefix) || s[:len(StringPrefix)] != StringPrefix {
				continue
			}
			var err error
			raw, err = decodeB64(sc.buf[:0], s[len(StringPrefix):])
			if err != nil {
				return &DecryptError{Subject: v.FieldByIndex(f.subject).String(), Field: f.label, Reason: "the envelope is not unpadded base64url"}
			}
			sc.keep(raw)
		}
		subject := v.FieldByIndex(f.subject).String()
		env, err := parseEnvelope(raw)
		if err != nil {
			return &DecryptError{Subject: subject, Field: f.label, Reason: err.Error()}
		}
		if !haveKey || subject != k.subject {
			haveKey = true
			var key Key
			key, kerr = e.keys.Get(ctx, subject, env.keyID)
			k = keyed{subject: subject}
			if kerr == nil {
				if k, err = e.keyed(subject, key); err != nil {
					return err
				}
			}
		}
		if errors.Is(kerr, ErrKeyNotFound) || kerr == nil && k.id != env.keyID {
			fv.SetZero()
			redacted = append(redacted, f.name)
			continue
		}
		if kerr != nil {
			return fmt.Errorf("pii: key of subject %q for %v.%s: %w", subject, p.t, f.name, kerr)
		}
		sc.ad = additionalData(sc.ad[:0], env.header, subject, f.label)
		// Decrypt into the scratch buffer, after the envelope when that
		// is there too (never into a []byte field's own storage, which
		// may be shared with the decoder's input).
		dst := sc.buf[:0]
		if !f.bytes {
			dst = raw[len(raw):]
		}
		plain, err := k.aead.Open(dst, env.nonce, env.sealed, sc.ad)
		if err != nil {
			return &DecryptError{Subject: subject, Field: f.label, Reason: "the ciphertext does not authenticate under the subject's key"}
		}
		switch {
		case f.bytes:
			fv.SetBytes(append([]byte(nil), plain...))
			sc.keep(plain)
		case nplain < len(plains):
			// Collected, and set below from one string for all fields.
			plains[nplain] = [3]int{fi, len(sc.out), len(sc.out) + len(plain)}
			sc.out = append(sc.out, plain...)
			nplain++
		default:
			fv.SetString(string(plain))
		}
	}
	if nplain > 0 {
		all := string(sc.out)
		for _, pl := range plains[:nplain] {
			v.FieldByIndex(p.fields[pl[0]].index).SetString(all[pl[1]:pl[2]])
		}
	}
	v.FieldByIndex(p.redact).Addr().Interface().(*Redactable).setRedacted(redacted)
	return nil
}
