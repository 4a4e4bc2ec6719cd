// Package memory is an in-memory [snapshot.Store] for tests, examples and
// single-process services. It keeps the latest snapshot of every stream
// (the one with the highest version) and loses everything when the process
// ends, which is harmless: snapshots are a cache over the events.
package memory
