package kafkakeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// Record format (see the package doc).
const (
	valuePlain   = 0x01 // version, key ID, secret
	valueWrapped = 0x02 // version, key ID, nonce, secret sealed under the key-encryption key
	plainSize    = 1 + 8 + pii.KeySize
	wrappedSize  = 1 + 8 + 12 + pii.KeySize + 16
	// HeaderKeyID is the header of a tombstone that names the erased
	// key's ID (16 lowercase hex digits).
	HeaderKeyID = "pii.key.id"
)

// wrapper seals keys under a key-encryption key ([WithKeyEncryptionKey]);
// nil stores them in the clear.
type wrapper struct{ aead cipher.AEAD }

func newWrapper(kek []byte) (*wrapper, error) {
	if kek == nil {
		return nil, nil
	}
	if len(kek) != 32 {
		return nil, fmt.Errorf("kafkakeys: the key-encryption key has %d bytes; AES-256 needs 32", len(kek))
	}
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &wrapper{a}, nil
}

// wrapAD binds a wrapped key to its subject and ID.
func wrapAD(subject string, header []byte) []byte {
	ad := append([]byte("kafkaes.pii.key"), header...)
	return append(ad, subject...)
}

func (w *wrapper) encode(subject string, k pii.Key) []byte {
	if w == nil {
		b := make([]byte, 0, plainSize)
		b = append(b, valuePlain)
		b = binary.BigEndian.AppendUint64(b, k.ID)
		return append(b, k.Secret...)
	}
	b := make([]byte, 0, wrappedSize)
	b = append(b, valueWrapped)
	b = binary.BigEndian.AppendUint64(b, k.ID)
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	b = append(b, nonce[:]...)
	return w.aead.Seal(b, nonce[:], k.Secret, wrapAD(subject, b[:9]))
}

var errWrapped = errors.New("the key is wrapped with a key-encryption key, but the store has none (kafkakeys.WithKeyEncryptionKey)")

func (w *wrapper) decode(subject string, v []byte) (pii.Key, error) {
	var k pii.Key
	switch {
	case len(v) == plainSize && v[0] == valuePlain:
		k = pii.Key{ID: binary.BigEndian.Uint64(v[1:9]), Secret: append([]byte(nil), v[9:]...)}
	case len(v) == wrappedSize && v[0] == valueWrapped:
		if w == nil {
			return pii.Key{}, errWrapped
		}
		secret, err := w.aead.Open(nil, v[9:21], v[21:], wrapAD(subject, v[:9]))
		if err != nil {
			return pii.Key{}, errors.New("the wrapped key does not open with the store's key-encryption key (another KEK, or a record moved to another subject)")
		}
		k = pii.Key{ID: binary.BigEndian.Uint64(v[1:9]), Secret: secret}
	default:
		first := -1
		if len(v) > 0 {
			first = int(v[0])
		}
		return pii.Key{}, fmt.Errorf("a key record value has %d bytes and version %d; want %d bytes with version 1, or %d with version 2", len(v), first, plainSize, wrappedSize)
	}
	if err := k.Valid(); err != nil {
		return pii.Key{}, err
	}
	return k, nil
}

func formatID(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return []byte(hex.EncodeToString(b[:]))
}

func parseID(b []byte) uint64 {
	var raw [8]byte
	if len(b) != 16 {
		return 0
	}
	if _, err := hex.Decode(raw[:], b); err != nil {
		return 0
	}
	return binary.BigEndian.Uint64(raw[:])
}
