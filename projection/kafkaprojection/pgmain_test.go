package kafkaprojection_test

import (
	"testing"

	"github.com/kafkaes/kafkaes/internal/pgtest"
)

// TestMain stops the embedded PostgreSQL server the tests may start (see
// package pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }
