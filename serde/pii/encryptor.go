package pii

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
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

func (e *Encryptor) keyed(subject string, k Key) (keyed, error) {
	a, err := e.aead(subject, k)
	if err != nil {
		return keyed{}, fmt.Errorf("pii: %w", err)
	}
	return keyed{subject: subject, id: k.ID, aead: a}, nil
}

// keyed is a subject's key, ready to use.
type keyed struct {
	subject string
	id      uint64
	aead    cipher.AEAD
}
