package serde

import (
	"context"
	"errors"
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

var (
	// ErrUnknownType means a value's Go type, or an event's type name, is
	// not in the registry. Register the type with [Register].
	ErrUnknownType = errors.New("serde: unknown event type")
	// ErrMalformed means the bytes cannot be decoded as the named type.
	ErrMalformed = errors.New("serde: malformed data")
)
