package kafka

// tracer is the store's test hooks, behind one field of the options
// (options.tracer): nil in production, where every hook is off and the
// steps of a transaction pay one nil check for it; the WithTest* options of
// export_test.go set one. The steps of a transaction and the requests of a
// transactional producer report to it, and ask it whether a test switched
// a part of the append off or injects a failure.
type tracer interface {
	// tracef receives a line for every step of every transaction and
	// every request of a transactional producer (for diagnosing failed
	// tests).
	tracef(format string, args ...any)
	// skipScan reports whether the conflict scan is switched off, to
	// show that the tests catch its absence.
	skipScan() bool
	// rawTxn reports whether every group is written in a bare
	// transaction (benchmarks only): no version check, no conflict scan,
	// no index or cache update. It is the floor the library's own work is
	// measured against.
	rawTxn() bool
	// endTxn is asked before every EndTxn request: when send is false
	// the request is not sent and err is returned (a commit that never
	// reached the broker); when send is true and err is set, the request
	// is sent and err returned whatever the broker answered (a lost
	// response).
	endTxn(commit bool) (send bool, err error)
}
