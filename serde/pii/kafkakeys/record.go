package kafkakeys

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/kafkaes/kafkaes/serde/pii"
)

// Record format (see the package doc).
const (
	valueVersion = 0x01
	valueSize    = 1 + 8 + pii.KeySize
	// HeaderKeyID is the header of a tombstone that names the erased
	// key's ID (16 lowercase hex digits).
	HeaderKeyID = "pii.key.id"
)

func encodeKey(k pii.Key) []byte {
	b := make([]byte, 0, valueSize)
	b = append(b, valueVersion)
	b = binary.BigEndian.AppendUint64(b, k.ID)
	return append(b, k.Secret...)
}

func decodeKey(v []byte) (pii.Key, error) {
	if len(v) != valueSize || v[0] != valueVersion {
		return pii.Key{}, fmt.Errorf("a key record value has %d bytes (want %d) and version 0x%02x (want 0x%02x)", len(v), valueSize, v[0:min(len(v), 1)], valueVersion)
	}
	k := pii.Key{ID: binary.BigEndian.Uint64(v[1:9]), Secret: append([]byte(nil), v[9:]...)}
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
