package kafka

// WithTestTrace makes the store's transactional producers report every
// request and its result to trace (for diagnosing failed tests).
func WithTestTrace(trace func(format string, args ...any)) Option {
	return func(o *options) { o.testTrace = trace }
}

// WithTestEndTxn injects EndTxn failures: hook is asked before every
// EndTxn request; with send false the request is not sent and err is
// returned, with send true and err set the request is sent and its answer
// replaced by err (a lost response).
func WithTestEndTxn(hook func(commit bool) (send bool, err error)) Option {
	return func(o *options) { o.testEndTxn = hook }
}

// Doubts returns the number of appends whose unknown outcome the store
// still remembers.
func Doubts(s *Store) int { return s.doubts.len() }

// WithTestRawTxn makes the store write every group commit in a bare Kafka
// transaction of its own transactional producers, with the same grouping
// but without the version check, the conflict scan or the index update:
// the raw-txn baseline of the append benchmarks. Versions written are
// meaningless; never read what such a store wrote.
func WithTestRawTxn() Option { return func(o *options) { o.testRawTxn = true } }
