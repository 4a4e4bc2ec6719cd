package pii

import (
	"encoding/base64"
	"strings"
	"testing"
)

func FuzzDecodeB64(f *testing.F) {
	f.Add("")
	f.Add("AQ")
	f.Add("AQI")
	f.Add("AQID")
	f.Add("A")
	f.Add("a-_z")
	f.Add("a+/z")
	f.Add("AQ==")
	f.Add("AP")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeB64([]byte("x"), s)
		want, werr := base64.RawURLEncoding.DecodeString(s)
		// Stricter than the standard decoder only in refusing the line
		// breaks it skips.
		if (err == nil) != (werr == nil) && !(err != nil && strings.ContainsAny(s, "\r\n")) {
			t.Fatalf("%q: err %v, std err %v", s, err, werr)
		}
		if err == nil && string(got) != "x"+string(want) {
			t.Fatalf("%q: %x, std %x", s, got, want)
		}
		gotB, errB := decodeB64(nil, []byte(s))
		if (errB == nil) != (err == nil) || err == nil && string(gotB) != string(want) {
			t.Fatalf("%q: from []byte %x (%v), from string %x (%v)", s, gotB, errB, got, err)
		}
	})
}

func FuzzAppendB64(f *testing.F) {
	for _, s := range []string{"", "\x00", "\xff\xfe", "abc", "abcd", strings.Repeat("\xfb", 58)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := appendB64([]byte("pii:"), b)
		if want := "pii:" + base64.RawURLEncoding.EncodeToString(b); string(got) != want {
			t.Fatalf("%x: %q, std %q", b, got, want)
		}
	})
}

func BenchmarkB64(b *testing.B) {
	env := make([]byte, Overhead+21)
	for i := range env {
		env[i] = byte(i * 37)
	}
	text := base64.RawURLEncoding.EncodeToString(env)
	buf := make([]byte, 0, 256)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			buf = appendB64(buf[:0], env)
		}
	})
	b.Run("encode-std", func(b *testing.B) {
		for b.Loop() {
			buf = base64.RawURLEncoding.AppendEncode(buf[:0], env)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			buf, _ = decodeB64(buf[:0], text)
		}
	})
	textB := []byte(text)
	b.Run("decode-bytes", func(b *testing.B) {
		for b.Loop() {
			buf, _ = decodeB64(buf[:0], textB)
		}
	})
	b.Run("decode-std", func(b *testing.B) {
		for b.Loop() {
			buf, _ = base64.RawURLEncoding.AppendDecode(buf[:0], []byte(text))
		}
	})
}
