package pii

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
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

	mu      sync.Mutex
	ciphers map[cipherKey]cipher.AEAD
}

type cipherKey struct {
	subject string
	id      uint64
}

// Option configures an [Encryptor].
type Option func(*Encryptor)

// WithCipherCache sets how many prepared ciphers the encryptor keeps
// (default [DefaultCipherCache]; at least 1).
func WithCipherCache(n int) Option { return func(e *Encryptor) { e.max = max(n, 1) } }

// NewEncryptor returns an encryptor that takes keys from keys.
func NewEncryptor(keys KeyStore, opts ...Option) *Encryptor {
	e := &Encryptor{keys: keys, max: DefaultCipherCache, ciphers: map[cipherKey]cipher.AEAD{}}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Keys returns the encryptor's key store.
func (e *Encryptor) Keys() KeyStore { return e.keys }

func (e *Encryptor) aead(subject string, k Key) (cipher.AEAD, error) {
	ck := cipherKey{subject, k.ID}
	e.mu.Lock()
	a, ok := e.ciphers[ck]
	e.mu.Unlock()
	if ok {
		return a, nil
	}
	if err := k.Valid(); err != nil {
		return nil, fmt.Errorf("key store returned a bad key for subject %q: %w", subject, err)
	}
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		return nil, err
	}
	if a, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if len(e.ciphers) >= e.max {
		for old := range e.ciphers { // evict one at random (map order)
			delete(e.ciphers, old)
			break
		}
	}
	e.ciphers[ck] = a
	e.mu.Unlock()
	return a, nil
}

// Encrypt returns a copy of v (a value of the plan's type, not a pointer)
// whose personal-data fields hold envelopes instead of plaintext; v is not
// changed. Empty fields stay empty. A field whose subject field is empty is
// an error: there is no subject to take a key from.
func (e *Encryptor) Encrypt(ctx context.Context, p *Plan, v reflect.Value) (reflect.Value, error) {
	out := reflect.New(p.t).Elem()
	out.Set(v)
	var nonceBuf [4 * nonceSize]byte
	nonces := nonceBuf[:0]
	if n := len(p.fields) * nonceSize; n <= len(nonceBuf) {
		nonces = nonceBuf[:n]
	} else {
		nonces = make([]byte, n)
	}
	_, _ = rand.Read(nonces) // one read for all fields; never fails (Go 1.24+)
	var (
		lastSubj string
		lastKey  Key
		lastA    cipher.AEAD
		ad       [128]byte
		adBuf    = ad[:0]
		scratch  [256]byte
	)
	for i, f := range p.fields {
		fv := out.FieldByIndex(f.index)
		var plain []byte
		if f.bytes {
			plain = fv.Bytes()
		} else {
			plain = append(scratch[:0], fv.String()...)
		}
		if len(plain) == 0 {
			continue
		}
		subject := out.FieldByIndex(f.subject).String()
		if subject == "" {
			return reflect.Value{}, fmt.Errorf("pii: %v.%s holds personal data but its subject field %s is empty; set the data subject's ID before writing the event", p.t, f.name, f.subjKey)
		}
		if lastA == nil || subject != lastSubj {
			k, err := e.keys.GetOrCreate(ctx, subject)
			if err != nil {
				return reflect.Value{}, fmt.Errorf("pii: key of subject %q for %v.%s: %w", subject, p.t, f.name, err)
			}
			a, err := e.aead(subject, k)
			if err != nil {
				return reflect.Value{}, fmt.Errorf("pii: %w", err)
			}
			lastSubj, lastKey, lastA = subject, k, a
		}
		nonce := nonces[i*nonceSize : (i+1)*nonceSize]
		if f.bytes {
			var env []byte
			env, adBuf = seal(make([]byte, 0, len(plain)+Overhead), lastA, lastKey.ID, nonce, plain, subject, f.label, adBuf)
			fv.SetBytes(env)
			continue
		}
		var envBuf [320]byte
		var env []byte
		env, adBuf = seal(envBuf[:0], lastA, lastKey.ID, nonce, plain, subject, f.label, adBuf)
		txt := make([]byte, len(StringPrefix)+base64.RawURLEncoding.EncodedLen(len(env)))
		copy(txt, StringPrefix)
		base64.RawURLEncoding.Encode(txt[len(StringPrefix):], env)
		fv.SetString(string(txt))
	}
	return out, nil
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
	var redacted []string
	for _, f := range p.fields {
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
			b, err := base64.RawURLEncoding.DecodeString(s[len(StringPrefix):])
			if err != nil {
				return &DecryptError{Subject: v.FieldByIndex(f.subject).String(), Field: f.label, Reason: "the envelope is not unpadded base64url"}
			}
			raw = b
		}
		subject := v.FieldByIndex(f.subject).String()
		env, err := parseEnvelope(raw)
		if err != nil {
			return &DecryptError{Subject: subject, Field: f.label, Reason: err.Error()}
		}
		k, err := e.keys.Get(ctx, subject)
		if errors.Is(err, ErrKeyNotFound) || err == nil && k.ID != env.keyID {
			fv.SetZero()
			redacted = append(redacted, f.name)
			continue
		}
		if err != nil {
			return fmt.Errorf("pii: key of subject %q for %v.%s: %w", subject, p.t, f.name, err)
		}
		a, err := e.aead(subject, k)
		if err != nil {
			return fmt.Errorf("pii: %w", err)
		}
		plain, err := open(nil, a, env, subject, f.label)
		if err != nil {
			return &DecryptError{Subject: subject, Field: f.label, Reason: "the ciphertext does not authenticate under the subject's key"}
		}
		if f.bytes {
			fv.SetBytes(plain)
		} else {
			fv.SetString(string(plain))
		}
	}
	v.FieldByIndex(p.redact).Addr().Interface().(*Redactable).setRedacted(redacted)
	return nil
}
