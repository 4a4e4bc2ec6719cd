package pii

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// KeySize is the length of a data subject's key in bytes (AES-256).
const KeySize = 32

// Key is a data subject's encryption key.
type Key struct {
	// ID identifies this key among all keys a subject ever had. It is
	// written into every envelope, so that a ciphertext made with an
	// erased key is recognised as erased even after a new key was made
	// for the same subject. It is random and never 0.
	ID uint64
	// Secret is the AES-256 key, [KeySize] bytes.
	Secret []byte
}

// NewKey returns a fresh random key (ID and secret from crypto/rand).
// KeyStore implementations call it when they create a key.
func NewKey() Key {
	var b [8 + KeySize]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (Go 1.24+ crashes the program instead)
		if id := binary.BigEndian.Uint64(b[:8]); id != 0 {
			return Key{ID: id, Secret: append([]byte(nil), b[8:]...)}
		}
	}
}

// Valid returns an error if k cannot be used: a zero ID or a secret that
// is not [KeySize] bytes long.
func (k Key) Valid() error {
	if k.ID == 0 {
		return errors.New("pii: key has ID 0; make keys with pii.NewKey")
	}
	if len(k.Secret) != KeySize {
		return fmt.Errorf("pii: key %016x has a %d-byte secret; AES-256 needs %d bytes", k.ID, len(k.Secret), KeySize)
	}
	return nil
}

// ErrKeyNotFound is returned by [KeyStore.Get] when the subject has no key
// with the asked ID: it was erased, or never created. Decoding treats it as erasure: the
// fields encrypted for the subject are redacted, the decode succeeds.
// Any other error of Get (a key store that cannot be reached) fails the
// decode instead, so that an outage never looks like an erasure.
var ErrKeyNotFound = errors.New("pii: no key for the data subject (erased or never created)")

// KeyStore keeps one key per data subject. Implement it to keep keys in a
// KMS or vault; kafkaes has [Memory] for tests and, in package
// github.com/kafkaes/kafkaes/serde/pii/kafkakeys, a store on a compacted
// Kafka topic (the default for services). Implementations must be safe
// for concurrent use, and fast on repeated calls (cache): every Marshal
// and Unmarshal of an event with personal data calls them.
type KeyStore interface {
	// GetOrCreate returns the subject's key, creating and storing it
	// first if the subject has none. It must return the same key to every
	// caller, also to callers in other processes racing to create it, and
	// the key must be durably stored before it returns (events encrypted
	// with it are written afterwards).
	GetOrCreate(ctx context.Context, subject string) (Key, error)
	// Get returns the subject's key for decryption, or an error matching
	// [ErrKeyNotFound] if the subject has none (erased or never created).
	// id is the key ID found in the ciphertext: a store may return the
	// subject's current key whatever its ID (the caller compares the
	// IDs and treats another ID as erased), and may use id to decide
	// without I/O (an ID it knows was erased) or to know that it must
	// look further (an ID it has not seen may belong to a key another
	// process created a moment ago). Get must never report
	// ErrKeyNotFound for a key that was stored before the call began:
	// events are written after their key, so a reader could otherwise
	// redact live data.
	Get(ctx context.Context, subject string, id uint64) (Key, error)
	// Erase deletes the subject's key for good, which makes every field
	// encrypted with it unreadable (crypto-shredding). Erasing a subject
	// without a key is not an error. A later GetOrCreate makes a new key.
	Erase(ctx context.Context, subject string) error
}

// Memory is a [KeyStore] in memory, for tests and examples. Keys die with
// the process. The zero value is not usable; create it with [NewMemory].
type Memory struct {
	mu   sync.Mutex
	keys map[string]Key
}

// NewMemory returns an empty in-memory key store.
func NewMemory() *Memory { return &Memory{keys: map[string]Key{}} }

// GetOrCreate returns the subject's key, creating it if needed.
func (m *Memory) GetOrCreate(ctx context.Context, subject string) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[subject]
	if !ok {
		k = NewKey()
		m.keys[subject] = k
	}
	return k, nil
}

// Get returns the subject's key (whatever its ID) or an error matching
// [ErrKeyNotFound].
func (m *Memory) Get(ctx context.Context, subject string, _ uint64) (Key, error) {
	if err := ctx.Err(); err != nil {
		return Key{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[subject]
	if !ok {
		return Key{}, fmt.Errorf("%w: subject %q", ErrKeyNotFound, subject)
	}
	return k, nil
}

// Erase deletes the subject's key.
func (m *Memory) Erase(ctx context.Context, subject string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, subject)
	return nil
}

// Put stores k as the subject's key, replacing any other. Tests use it to
// plant a wrong key.
func (m *Memory) Put(subject string, k Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[subject] = k
}
