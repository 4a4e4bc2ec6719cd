package eventstore

import "context"

type metadataKey struct{}

// ContextWithMetadata returns a context that carries md. Code that turns
// commands into events (for example aggregate.Repository) attaches it to
// every event it appends, so a request handler sets correlation IDs and
// user keys once instead of threading them through the domain.
func ContextWithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFromContext returns the metadata attached by
// [ContextWithMetadata], and whether there was any.
func MetadataFromContext(ctx context.Context) (Metadata, bool) {
	md, ok := ctx.Value(metadataKey{}).(Metadata)
	return md, ok
}
