// Package depgraph holds no code: its test enforces the import rules of
// DESIGN.md ("must not import" column of the package table), so that, for
// example, a service that uses only aggregate and eventstore/memory never
// links the Kafka client. Run it with go test ./internal/depgraph.
package depgraph
