package serde

import (
	"context"
	"errors"
	"reflect"
)

// Serde converts event values to bytes and back. Implementations are safe
// for concurrent use.
type Serde interface {
	// Marshal encodes v, whose type must be registered, and returns its
	// registered type name and bytes.
	Marshal(ctx context.Context, v any) (name string, data []byte, err error)
	// Unmarshal decodes data written for the type registered as name and
	// returns a value of the registered Go type (not a pointer to it).
	Unmarshal(ctx context.Context, name string, data []byte) (any, error)
}

// TypeChecker is implemented by serdes that can tell, without I/O, whether
// values of a Go type can be marshalled: the type is registered and (for a
// serde that derives schemas) has a schema that fits it. Repositories call
// it at construction to find a snapshot state that could never be encoded
// before the first command runs. [JSON], [UpcastingSerde] (when its inner
// serde does) and the Avro serde implement it. A nil error does not promise
// that Marshal succeeds: a schema registry may still refuse the schema.
type TypeChecker interface {
	// CheckType returns nil if values of t (or *t) can be marshalled, and
	// otherwise an error saying what is wrong and what to do.
	CheckType(t reflect.Type) error
}

var (
	// ErrUnknownType means a value's Go type, or an event's type name, is
	// not in the registry. Register the type with [Register].
	ErrUnknownType = errors.New("serde: unknown event type")
	// ErrMalformed means the bytes cannot be decoded as the named type.
	ErrMalformed = errors.New("serde: malformed data")
)

// TypeNamer is implemented by serdes that can tell, without I/O, which
// stored event type names (the es.type header) may decode to values of a
// Go type: its registered name, and the former names it is read under
// (Avro aliases, names with an upcaster). Readers use it to fetch only the
// records of the types they handle; a serde without it makes them read
// every record. [JSON], [UpcastingSerde] (when its inner serde does) and
// the Avro serde implement it.
type TypeNamer interface {
	// TypeNames returns every stored type name whose events may decode to
	// a value of t (t itself, not *t), and ok=false when t is not
	// registered or the serde cannot tell (then read every type).
	TypeNames(t reflect.Type) (names []string, ok bool)
}
