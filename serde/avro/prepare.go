package avro

import (
	"context"
	"errors"
	"fmt"
)

// Prepare finds the schema ID of every event type in the registry now, as
// Marshal would on first use: in [AutoRegister] mode it checks and
// registers the schemas, in [UseRegisteredOnly] mode it fails with
// [ErrSchemaNotRegistered] for every type whose schema is missing, in
// [UseLatest] mode it checks that each type can be written with its
// subject's latest schema. Call it at start-up so that a service with a
// missing or incompatible schema fails before it takes traffic. The
// error joins one error per failing type.
func (s *Serde) Prepare(ctx context.Context) error {
	var errs []error
	for _, name := range s.reg.Names() {
		t, err := s.reg.Type(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.writer(ctx, t, name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
