// Package logcheck verifies the concurrency guarantees of the Kafka event
// store from the outside: it reads a whole events topic with a plain sarama
// read_committed consumer (not the store) and checks, for every stream,
// versions 1..n in offset order without gap or duplicate, that every
// acknowledged append is in the log exactly once and that nothing of an
// append that failed is visible.
//
// It is test infrastructure for the multi-writer stress and kill tests of
// package eventstore/kafka.
package logcheck
