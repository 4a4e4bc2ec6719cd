package pii

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Envelope layout (see the package doc and docs/wire-format.md):
//
//	byte 0      version, 0x01
//	bytes 1-8   key ID, big-endian
//	bytes 9-20  nonce (96 bits, random)
//	bytes 21-   AES-256-GCM ciphertext followed by the 16-byte tag
//
// The additional data authenticated with it is
//
//	"kafkaes.pii" | bytes 0-8 of the envelope | uvarint len(subject) | subject | uvarint len(label) | label
const (
	envelopeVersion = 0x01
	headerSize      = 1 + 8
	nonceSize       = 12
	tagSize         = 16
	// Overhead is the number of bytes an envelope adds to a plaintext
	// (version, key ID, nonce, tag).
	Overhead = headerSize + nonceSize + tagSize
	// StringPrefix starts the text form of an envelope, which string
	// fields hold: "pii:" followed by the envelope in unpadded base64url.
	StringPrefix = "pii:"
	adPrefix     = "kafkaes.pii"
)

// ErrDecrypt means an encrypted field could not be decrypted although its
// subject's key exists: the ciphertext was changed, moved to another
// subject or field, or the key store returned a wrong key. It is an error,
// unlike erasure, which redacts the field. Find the record (the error
// names subject and field) and the process that wrote or changed it.
var ErrDecrypt = errors.New("pii: cannot decrypt a personal-data field: tampered ciphertext or wrong key")

// DecryptError is returned for a field that cannot be decrypted; it
// matches [ErrDecrypt].
type DecryptError struct {
	Subject string // the data subject's ID
	Field   string // the field's label
	Reason  string // what was wrong
}

// Error names the subject and the field and says what was wrong.
func (e *DecryptError) Error() string {
	return fmt.Sprintf("pii: field %s of subject %q: %s; the ciphertext was tampered with or the key store returned a wrong key", e.Field, e.Subject, e.Reason)
}

// Is makes a DecryptError match [ErrDecrypt].
func (e *DecryptError) Is(target error) bool { return target == ErrDecrypt }

// IsEnvelope reports whether s is the text form of an encrypted field: it
// starts with [StringPrefix] and decodes to an envelope of a known
// version. `kafkaes verify` uses it to find plaintext in fields marked as
// personal data.
func IsEnvelope(s string) bool {
	_, err := parseString(s)
	return err == nil
}

// IsEnvelopeBytes is [IsEnvelope] for the binary form held by []byte
// fields.
func IsEnvelopeBytes(b []byte) bool {
	_, err := parseEnvelope(b)
	return err == nil
}

// envelope is a parsed envelope; its slices alias the input.
type envelope struct {
	header []byte // version and key ID
	keyID  uint64
	nonce  []byte
	sealed []byte // ciphertext and tag
}

func parseEnvelope(b []byte) (envelope, error) {
	if len(b) < Overhead {
		return envelope{}, fmt.Errorf("envelope has %d bytes, fewer than the %d of an empty one", len(b), Overhead)
	}
	if b[0] != envelopeVersion {
		return envelope{}, fmt.Errorf("envelope version 0x%02x is unknown (this code reads 0x%02x); upgrade kafkaes", b[0], envelopeVersion)
	}
	return envelope{header: b[:headerSize], keyID: binary.BigEndian.Uint64(b[1:headerSize]),
		nonce: b[headerSize : headerSize+nonceSize], sealed: b[headerSize+nonceSize:]}, nil
}

func parseString(s string) ([]byte, error) {
	if !strings.HasPrefix(s, StringPrefix) {
		return nil, fmt.Errorf("text does not start with %q", StringPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(StringPrefix):])
	if err != nil {
		return nil, fmt.Errorf("envelope is not unpadded base64url: %v", err)
	}
	if _, err := parseEnvelope(b); err != nil {
		return nil, err
	}
	return b, nil
}

// additionalData appends the additional data of an envelope to dst.
func additionalData(dst, header []byte, subject, label string) []byte {
	dst = append(dst, adPrefix...)
	dst = append(dst, header...)
	dst = binary.AppendUvarint(dst, uint64(len(subject)))
	dst = append(dst, subject...)
	dst = binary.AppendUvarint(dst, uint64(len(label)))
	return append(dst, label...)
}
