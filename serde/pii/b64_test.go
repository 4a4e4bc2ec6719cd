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
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeB64(nil, s)
		want, werr := base64.RawURLEncoding.DecodeString(s)
		// Stricter than the standard decoder only in refusing the line
		// breaks it skips.
		if (err == nil) != (werr == nil) && !(err != nil && strings.ContainsAny(s, "\r\n")) {
			t.Fatalf("%q: err %v, std err %v", s, err, werr)
		}
		if err == nil && string(got) != string(want) {
			t.Fatalf("%q: %x, std %x", s, got, want)
		}
	})
}
