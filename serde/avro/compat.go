package avro

import (
	"errors"
	"fmt"
	"strings"
)

// Compatibility is a Schema Registry compatibility level.
//
// For event streams use [FullTransitive] (or at least [BackwardTransitive]):
// events are kept forever, so every schema ever used must stay readable by
// the current code (backward), and during a rolling deploy old instances
// read events written by new ones (forward). "Transitive" checks against
// all earlier versions, not only the latest, which matters because a
// stream is replayed from its first event.
type Compatibility string

// The compatibility levels, with the names the Schema Registry uses.
const (
	// None checks nothing.
	None Compatibility = "NONE"
	// Backward: the new schema can read data written with the latest one.
	Backward Compatibility = "BACKWARD"
	// BackwardTransitive: the new schema can read data of all versions.
	BackwardTransitive Compatibility = "BACKWARD_TRANSITIVE"
	// Forward: the latest schema can read data written with the new one.
	Forward Compatibility = "FORWARD"
	// ForwardTransitive: all versions can read data of the new one.
	ForwardTransitive Compatibility = "FORWARD_TRANSITIVE"
	// Full is Backward and Forward.
	Full Compatibility = "FULL"
	// FullTransitive is BackwardTransitive and ForwardTransitive.
	FullTransitive Compatibility = "FULL_TRANSITIVE"
)

// CanRead reports whether data written with schema writer can be read with
// schema reader per the Avro resolution rules. It returns nil, or an
// [*IncompatibleError] naming the first broken rule, or an error if a
// schema does not parse.
func CanRead(reader, writer string) error {
	r, err := ParseSchema(reader)
	if err != nil {
		return fmt.Errorf("reader schema: %w", err)
	}
	w, err := ParseSchema(writer)
	if err != nil {
		return fmt.Errorf("writer schema: %w", err)
	}
	return canRead(r, w, "")
}

func canRead(r, w *Schema, dir string) error {
	if _, err := compileResolver(w, r, true); err != nil {
		var ce *compatErr
		if errors.As(err, &ce) {
			return &IncompatibleError{Direction: dir, Path: ce.path, Rule: ce.rule}
		}
		return err
	}
	return nil
}

// CheckCompatibility checks that newSchema may follow the existing
// schemas (oldest first) under level, as the Schema Registry would. It
// returns nil or an [*IncompatibleError] that names the version, the
// direction and the broken rule. The serde calls it before registering a
// schema, since not every registry enforces compatibility; call it from
// your own tests (or use avrotest.RequireCompatible) to fail CI before an
// incompatible schema ships.
func CheckCompatibility(level Compatibility, newSchema string, existing ...string) error {
	level = Compatibility(strings.ToUpper(string(level)))
	var back, fwd, trans bool
	switch level {
	case None, "":
		return nil
	case Backward:
		back = true
	case BackwardTransitive:
		back, trans = true, true
	case Forward:
		fwd = true
	case ForwardTransitive:
		fwd, trans = true, true
	case Full:
		back, fwd = true, true
	case FullTransitive:
		back, fwd, trans = true, true, true
	default:
		return fmt.Errorf("avro: unknown compatibility level %q; use one of BACKWARD, FORWARD, FULL (optionally _TRANSITIVE) or NONE", level)
	}
	n, err := ParseSchema(newSchema)
	if err != nil {
		return fmt.Errorf("new schema: %w", err)
	}
	first := len(existing) - 1
	if trans {
		first = 0
	}
	for i := len(existing) - 1; i >= first && i >= 0; i-- {
		old, err := ParseSchema(existing[i])
		if err != nil {
			return fmt.Errorf("existing schema version %d: %w", i+1, err)
		}
		if back {
			if err := canRead(n, old, "new schema reading data written with the old one (backward)"); err != nil {
				return withVersion(err, level, i+1)
			}
		}
		if fwd {
			if err := canRead(old, n, "old schema reading data written with the new one (forward)"); err != nil {
				return withVersion(err, level, i+1)
			}
		}
	}
	return nil
}

func withVersion(err error, level Compatibility, v int) error {
	var ie *IncompatibleError
	if errors.As(err, &ie) {
		ie.Level, ie.Version = level, v
	}
	return err
}
