package avro

import (
	"context"
	"strings"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// WithObserver makes the serde report to o (see package eventstore/observe),
// for whichever of these interfaces o implements: every Marshal and
// Unmarshal with its duration, size and error ([observe.SerdeObserver],
// serde name "avro"); every Schema Registry call with its duration and
// error, retries included ([observe.RegistryObserver]; Op is one of
// schema_by_id, register, lookup, latest, versions, version,
// compatibility); and look-ups of the schema-by-ID cache that decoding
// uses ([observe.CacheObserver]: "writer", the registered writer schema
// of a Go type for Marshal, a miss costs a registry look-up or
// registration; "decoder", the decoding plan for a schema ID and Go type
// for Unmarshal; "schema_by_id", the writer schema of an ID, a miss costs
// a registry call). The default reports nothing.
// New fails with an error matching observe.ErrObserver when o would
// silently miss reports (see observe.Check).
func WithObserver(o observe.Observer) Option {
	return func(c *config) { c.hooks, c.obsErr = observe.Resolve(o), observe.Check(o) }
}

// Marshal encodes v (a registered event type or a pointer to one) as a
// Confluent-framed Avro record and returns its registered name.
func (s *Serde) Marshal(ctx context.Context, v any) (string, []byte, error) {
	h := s.cfg.hooks.Serde
	if h == nil {
		return s.marshal(ctx, v)
	}
	start := time.Now()
	name, data, err := s.marshal(ctx, v)
	h.ObserveSerde(ctx, observe.Serde{Serde: "avro", Op: observe.Encode, Type: name, Bytes: len(data), Duration: time.Since(start), Err: err})
	return name, data, err
}

// Unmarshal decodes a Confluent-framed Avro payload into a value of the Go
// type registered as name, resolving the writer's schema (by its ID) to
// the type's current schema.
func (s *Serde) Unmarshal(ctx context.Context, name string, data []byte) (any, error) {
	h := s.cfg.hooks.Serde
	if h == nil {
		return s.unmarshal(ctx, name, data)
	}
	start := time.Now()
	v, err := s.unmarshal(ctx, name, data)
	h.ObserveSerde(ctx, observe.Serde{Serde: "avro", Op: observe.Decode, Type: name, Bytes: len(data), Duration: time.Since(start), Err: err})
	return v, err
}

func (s *Serde) observeCache(ctx context.Context, cache string, hit bool) {
	if h := s.cfg.hooks.Cache; h != nil {
		h.ObserveCache(ctx, observe.CacheLookup{Cache: cache, Hit: hit})
	}
}

// observedCall is call, reported to the registry observer.
func (r *registryClient) observedCall(ctx context.Context, op string, fn func() error) error {
	start := time.Now()
	err := r.callRetrying(ctx, op, fn)
	kind, subject := registryOp(op)
	c := registryCode(err)
	notFound := c == 404 || c == 40401 || c == 40402 || c == 40403
	r.obs.ObserveRegistry(ctx, observe.RegistryCall{Op: kind, Subject: subject, Duration: time.Since(start), Err: err, NotFound: notFound})
	return err
}

// registryOp returns the operation name and subject of an operation
// description such as "register schema under subject orders-value".
func registryOp(op string) (kind, subject string) {
	switch {
	case strings.HasPrefix(op, "get schema ID"):
		kind = "schema_by_id"
	case strings.HasPrefix(op, "register schema"):
		kind = "register"
	case strings.HasPrefix(op, "look up schema"):
		kind = "lookup"
	case strings.HasPrefix(op, "get latest schema"):
		kind = "latest"
	case strings.HasPrefix(op, "list versions"):
		kind = "versions"
	case strings.HasPrefix(op, "get version"):
		kind = "version"
	case strings.HasPrefix(op, "get compatibility"):
		kind = "compatibility"
	default:
		kind = "other"
	}
	if i := strings.LastIndex(op, "subject "); i >= 0 {
		subject = op[i+len("subject "):]
	}
	return kind, subject
}
