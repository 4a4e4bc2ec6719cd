package kafka

// testHooks is the tracer (hooks.go) that the WithTest* options set; each
// option sets its part, so that they combine.
type testHooks struct {
	trace  func(format string, args ...any)
	onEnd  func(commit bool) (send bool, err error)
	noScan bool
	raw    bool
}

func (h *testHooks) tracef(format string, args ...any) {
	if h.trace != nil {
		h.trace(format, args...)
	}
}

func (h *testHooks) skipScan() bool { return h.noScan }
func (h *testHooks) rawTxn() bool   { return h.raw }

func (h *testHooks) endTxn(commit bool) (send bool, err error) {
	if h.onEnd == nil {
		return true, nil
	}
	return h.onEnd(commit)
}

// testHooksOf returns the test hooks of o, set on o if it had none.
func testHooksOf(o *options) *testHooks {
	if h, ok := o.tracer.(*testHooks); ok {
		return h
	}
	h := &testHooks{}
	o.tracer = h
	return h
}

// WithTestTrace makes the store's transactional producers report every
// request and its result to trace (for diagnosing failed tests).
func WithTestTrace(trace func(format string, args ...any)) Option {
	return func(o *options) { testHooksOf(o).trace = trace }
}

// WithTestEndTxn injects EndTxn failures: hook is asked before every
// EndTxn request; with send false the request is not sent and err is
// returned, with send true and err set the request is sent and its answer
// replaced by err (a lost response).
func WithTestEndTxn(hook func(commit bool) (send bool, err error)) Option {
	return func(o *options) { testHooksOf(o).onEnd = hook }
}

// Doubts returns the number of appends whose unknown outcome the store
// still remembers.
func Doubts(s *Store) int { return s.doubts.len() }

// WithTestRawTxn makes the store write every group commit in a bare Kafka
// transaction of its own transactional producers, with the same grouping
// but without the version check, the conflict scan or the index update:
// the raw-txn baseline of the append benchmarks. Versions written are
// meaningless; never read what such a store wrote.
func WithTestRawTxn() Option { return func(o *options) { testHooksOf(o).raw = true } }

// memIndex returns the in-memory index of partition p of s.
func memIndex(s *Store, p int32) *partIndex { return s.idx[p].(*partIndex) }

// MarkSuspect makes the store count an error that may come from a broker
// going away, as a failed request does: every worker settle-checks before
// its next transaction.
func MarkSuspect(s *Store) { s.markSuspect() }

// SetCompressMinBytes sets the size below which batches are written
// uncompressed (0: compress every batch) and returns a function that
// restores it. Not for parallel tests.
func SetCompressMinBytes(n int) (restore func()) {
	old := compressMinBytes
	compressMinBytes = n
	return func() { compressMinBytes = old }
}
