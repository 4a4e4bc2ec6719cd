// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU time beside wall time (on a shared, loaded machine CPU
// time is steadier than ns/op, which counts waiting).
package cputime
