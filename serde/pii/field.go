package pii

import (
	"context"
	"errors"
	"fmt"
)

// DecryptText decrypts one encrypted string field outside a serde (tools
// such as `kafkaes stream` use it on values decoded generically): s is the
// field's value, subject the value of its subject field, label its label
// (the "label" of the field's kafkaes.pii Avro property). It returns the
// plaintext; redacted is true when the subject's key is gone (plain is
// then ""). A value without the envelope prefix is returned as it is.
// Errors are as for [Encryptor.Decrypt].
func (e *Encryptor) DecryptText(ctx context.Context, subject, label, s string) (plain string, redacted bool, err error) {
	if len(s) < len(StringPrefix) || s[:len(StringPrefix)] != StringPrefix {
		return s, false, nil
	}
	raw, err := decodeB64(nil, s[len(StringPrefix):])
	if err != nil {
		return "", false, &DecryptError{Subject: subject, Field: label, Reason: "the envelope is not unpadded base64url"}
	}
	b, redacted, err := e.open(ctx, subject, label, raw)
	return string(b), redacted, err
}

// DecryptBytes is [Encryptor.DecryptText] for a []byte field (the binary
// envelope). A value that does not start with the envelope version is
// returned as it is.
func (e *Encryptor) DecryptBytes(ctx context.Context, subject, label string, b []byte) (plain []byte, redacted bool, err error) {
	if len(b) == 0 || b[0] != envelopeVersion {
		return b, false, nil
	}
	return e.open(ctx, subject, label, b)
}

func (e *Encryptor) open(ctx context.Context, subject, label string, raw []byte) ([]byte, bool, error) {
	env, err := parseEnvelope(raw)
	if err != nil {
		return nil, false, &DecryptError{Subject: subject, Field: label, Reason: err.Error()}
	}
	k, err := e.keys.Get(ctx, subject, env.keyID)
	if errors.Is(err, ErrKeyNotFound) || err == nil && k.ID != env.keyID {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pii: key of subject %q: %w", subject, err)
	}
	a, err := e.aead(subject, k)
	if err != nil {
		return nil, false, fmt.Errorf("pii: %w", err)
	}
	plain, err := a.Open(nil, env.nonce, env.sealed, additionalData(nil, env.header, subject, label))
	if err != nil {
		return nil, false, &DecryptError{Subject: subject, Field: label, Reason: "the ciphertext does not authenticate under the subject's key"}
	}
	return plain, false, nil
}
