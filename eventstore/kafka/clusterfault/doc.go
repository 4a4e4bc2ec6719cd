// Package clusterfault holds the cluster fault test of the Kafka event
// store (only tests; nothing to import). TestClusterFaults runs against
// the 3-node KRaft cluster of scripts/kafka-cluster.sh (replication factor
// 3, min.insync.replicas=2, stock settings otherwise):
//
//	scripts/kafka-cluster.sh start && eval "$(scripts/kafka-cluster.sh env)"
//	go test -v -count=1 -timeout 15m ./eventstore/kafka/clusterfault
//
// Without KAFKAES_CLUSTER_CTL and KAFKAES_BROKERS it does not run and says
// so in one line (NOT RUN).
//
// Four writer processes (the test binary re-executed), each with its own
// sarama client and store (default options, except that w1 runs one
// transactional producer, so that it has one transaction coordinator and
// one open transaction to be killed with) and two appending goroutines,
// append 1-3 events
// to random streams of 50 on a 6-partition topic with an expected version:
// read the stream, append at its version, on a conflict read again, on an
// unknown outcome retry the same events at the same expected version until
// the answer is known. A quarter of their operations are multi-stream
// appends (AppendMulti of 1-2 events to each of two streams on different
// partitions, each at the version read), retried the same way. Each journals every ReadStream result and every
// Append attempt before and after the call, fsync'd, so a SIGKILL loses
// nothing. Meanwhile the test drives faults one after another, waiting
// after each until every writer appends again:
//
//  1. SIGKILL the broker leading most partitions, restart it 2 s later;
//  2. SIGKILL the transaction coordinator of a writer, restart after 1 s;
//  3. the same, restart after 7 s;
//  4. SIGSTOP the broker leading most partitions for the transaction
//     timeout + 5 s, then SIGCONT;
//  5. SIGKILL two brokers at once, restart them 2 s later;
//  6. SIGKILL writer w1 with a transaction open (SIGUSR1 tells it to kill
//     itself when it is about to send the EndTxn of a transaction that
//     produced records) and start a replacement.
//
// A franz-go (not sarama) read_committed consumer tails the topic during
// the run (which measures the read_committed stall of every acknowledged
// append) and, after end markers are written to every partition once the
// writers have stopped, holds the whole committed log. The test then
// checks the log and the journals: versions 1..n per stream in offset
// order, no duplicate; every acknowledged append present exactly once at
// the versions and positions it reported (for a multi-stream append, on
// every stream); no event of an append whose final answer said nothing was
// written; an unresolved unknown outcome all there or not at all (for a
// multi-stream append, on all its streams or on none); no untyped error; no ReadStream result shorter than
// an append acknowledged before the read began. It prints per fault the
// longest time without a successful append, the time until every writer
// appended again, the longest append, the longest read_committed stall, the
// errors by class, and for the writer kill the append rate of the other
// writers to partitions the dead writer had nothing in flight on, before
// and after. KAFKAES_CLUSTERFAULT_REPORT=path writes that table to a file.
package clusterfault
