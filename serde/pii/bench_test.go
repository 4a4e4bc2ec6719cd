package pii_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"reflect"
	"testing"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// Treated is the event of the Avro serde's BenchmarkSerde/avro-pii: two
// 21-byte personal-data strings.
type Treated struct {
	pii.Redactable
	PatientID string
	Name      string `pii:"PatientID"`
	Diagnosis string `pii:"PatientID"`
	Ward      string
}

// BenchmarkEncryptor measures the encryptor's share of an encrypted
// round trip (seal: Seal; open: DecryptFields from the wire forms) and,
// beside it, the floor the cipher sets for the same work: two GCM Seal
// and two Open calls on the same plaintext and additional data, and one
// 12-byte crypto/rand read; and the floor of one Seal and one Open of
// both fields joined.
//
//	go test -run '^$' -bench BenchmarkEncryptor -count 6 ./serde/pii
func BenchmarkEncryptor(b *testing.B) {
	ctx := context.Background()
	enc := pii.NewEncryptor(pii.NewMemory())
	p, err := pii.Inspect(reflect.TypeFor[Treated]())
	if err != nil {
		b.Fatal(err)
	}
	v := reflect.ValueOf(Treated{PatientID: "patient-0001", Name: "Grace Brewster Hopper", Diagnosis: "fractured left radius", Ward: "B2"})
	s, err := enc.Seal(ctx, p, v)
	if err != nil {
		b.Fatal(err)
	}
	wire := [][]byte{append([]byte(nil), s.Field(0)...), append([]byte(nil), s.Field(1)...)}
	s.Release()
	b.Run("seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := enc.Seal(ctx, p, v)
			if err != nil {
				b.Fatal(err)
			}
			s.Release()
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		var out Treated
		for b.Loop() {
			out = Treated{PatientID: "patient-0001", Ward: "B2"}
			if err := enc.DecryptFields(ctx, p, reflect.ValueOf(&out), wire); err != nil {
				b.Fatal(err)
			}
		}
	})
	key := pii.NewKey()
	block, _ := aes.NewCipher(key.Secret)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	plain := []byte("Grace Brewster Hopper")
	ad := []byte("kafkaes.pii\x01\x00\x00\x00\x00\x00\x00\x00\x01\x0cpatient-0001\x04Name")
	buf := make([]byte, 0, 128)
	sealed := aead.Seal(nil, nonce, plain, ad)
	b.Run("floor-seal", func(b *testing.B) {
		for b.Loop() {
			_, _ = rand.Read(nonce)
			buf = aead.Seal(buf[:0], nonce, plain, ad)
			buf = aead.Seal(buf[:0], nonce, plain, ad)
		}
	})
	nonce = make([]byte, 12)
	b.Run("floor-open", func(b *testing.B) {
		for b.Loop() {
			for range 2 {
				if buf, err = aead.Open(buf[:0], nonce, sealed, ad); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	// The floor of sealing both fields in one GCM call (one envelope per
	// subject and event, a format not taken: see BENCHMARKS.md).
	both := []byte("Grace Brewster Hopperfractured left radius")
	sealedBoth := aead.Seal(nil, nonce, both, ad)
	b.Run("floor-seal-joined", func(b *testing.B) {
		for b.Loop() {
			_, _ = rand.Read(nonce)
			buf = aead.Seal(buf[:0], nonce, both, ad)
		}
	})
	nonce = make([]byte, 12)
	b.Run("floor-open-joined", func(b *testing.B) {
		for b.Loop() {
			if buf, err = aead.Open(buf[:0], nonce, sealedBoth, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
