// Package kvbench holds only a benchmark: the access shape of a
// disk-resident stream index (issue 13) on the two embedded stores it was
// chosen between, github.com/cockroachdb/pebble/v2 and go.etcd.io/bbolt.
// Run it with
//
//	go test -run '^$' -bench . -benchtime 200000x ./eventstore/kafka/internal/kvbench/
//
// The numbers and the decision are in eventstore/kafka/doc.go (Resources)
// and BENCHMARKS.md.
package kvbench
