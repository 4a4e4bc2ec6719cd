package pii_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// envelopeOf returns the binary envelope of a wire form.
func envelopeOf(t *testing.T, wire []byte, text bool) []byte {
	t.Helper()
	if !text {
		return wire
	}
	s, ok := strings.CutPrefix(string(wire), pii.StringPrefix)
	require.True(t, ok)
	b, err := base64.RawURLEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestSealNonces checks the nonce rule of Seal: one random base per call,
// field i of the plan sealed with base + i (low 64 bits).
func TestSealNonces(t *testing.T) {
	ctx := context.Background()
	enc := pii.NewEncryptor(pii.NewMemory())
	p, err := pii.Inspect(reflect.TypeFor[PatientAdmitted]())
	require.NoError(t, err)
	in := admitted("p-1")
	nonces := map[string]bool{}
	var bases [][12]byte
	for range 50 {
		s, err := enc.Seal(ctx, p, reflect.ValueOf(in))
		require.NoError(t, err)
		var base [12]byte
		for i, text := range []bool{true, true, false} { // Name, Born, Scan
			env := envelopeOf(t, s.Field(i), text)
			nonce := env[9:21]
			require.False(t, nonces[string(nonce)], "nonce repeated")
			nonces[string(nonce)] = true
			if i == 0 {
				copy(base[:], nonce)
				continue
			}
			require.Equal(t, base[:4], nonce[:4])
			require.Equal(t, binary.BigEndian.Uint64(base[4:])+uint64(i), binary.BigEndian.Uint64(nonce[4:]))
		}
		s.Release()
		bases = append(bases, base)
	}
	require.NotEqual(t, bases[0], bases[1], "one random base per call")
	require.Equal(t, admitted("p-1"), in, "Seal must not change the value")

	// Empty fields have no wire form; the others keep their plan index.
	in.Born = ""
	s, err := enc.Seal(ctx, p, reflect.ValueOf(in))
	require.NoError(t, err)
	defer s.Release()
	require.Nil(t, s.Field(1))
	require.NotNil(t, s.Field(0))
	require.NotNil(t, s.Field(2))
	require.Positive(t, s.Len())
}

// TestDecryptFieldsMatchesDecrypt: decrypting from wire forms kept aside
// gives the same value, redactions and errors as decrypting a decoded
// value.
func TestDecryptFieldsMatchesDecrypt(t *testing.T) {
	ctx := context.Background()
	keys := pii.NewMemory()
	enc := pii.NewEncryptor(keys)
	p, err := pii.Inspect(reflect.TypeFor[PatientAdmitted]())
	require.NoError(t, err)
	sealed, err := enc.Encrypt(ctx, p, reflect.ValueOf(admitted("p-1")))
	require.NoError(t, err)
	good := sealed.Interface().(PatientAdmitted)
	other, err := enc.Encrypt(ctx, p, reflect.ValueOf(admitted("p-2")))
	require.NoError(t, err)
	tampered := good
	tampered.Name = good.Name[:20] + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, good.Name[20:21]) + good.Name[21:]

	cases := map[string]PatientAdmitted{
		"sealed":       good,
		"empty":        {PatientID: "p-1", Ward: "A"},
		"legacy":       {PatientID: "p-1", Name: "Old Name", Born: "", Scan: []byte("old scan")},
		"tampered":     tampered,
		"moved":        {PatientID: "p-1", Name: good.Born},
		"other key":    {PatientID: "p-1", Name: other.Interface().(PatientAdmitted).Name},
		"bad base64":   {PatientID: "p-1", Name: "pii:!!!!"},
		"short":        {PatientID: "p-1", Name: "pii:AQ", Scan: []byte{1, 2}},
		"prefix only":  {PatientID: "p-1", Name: "pii:"},
		"unknown ver.": {PatientID: "p-1", Scan: []byte{2, 3}},
	}
	check := func(t *testing.T, in PatientAdmitted) {
		t.Helper()
		a := in
		errA := enc.Decrypt(ctx, p, reflect.ValueOf(&a))
		b := PatientAdmitted{PatientID: in.PatientID, Ward: in.Ward}
		errB := enc.DecryptFields(ctx, p, reflect.ValueOf(&b), [][]byte{[]byte(in.Name), []byte(in.Born), in.Scan})
		if errA != nil || errB != nil {
			require.Error(t, errA)
			require.EqualError(t, errB, errA.Error())
			return
		}
		require.Equal(t, a, b)
		require.Equal(t, pii.Redacted(a), pii.Redacted(b))
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) { check(t, in) })
	}
	require.NoError(t, keys.Erase(ctx, "p-1"))
	t.Run("erased", func(t *testing.T) { check(t, good) })

	b := PatientAdmitted{PatientID: "p-1"}
	require.ErrorContains(t, enc.DecryptFields(ctx, p, reflect.ValueOf(&b), nil), "wire forms")
}
