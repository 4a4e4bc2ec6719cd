package kafka_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/internal/logcheck"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// Environment of the child process that TestKillWriter* re-executes.
const (
	killModeEnv    = "KAFKAES_KILL_CHILD" // raw-sigkill, raw-exit or store
	killBrokersEnv = "KAFKAES_KILL_BROKERS"
	killTopicEnv   = "KAFKAES_KILL_TOPIC"
	killStreamsEnv = "KAFKAES_KILL_STREAMS"
	killVersionEnv = "KAFKAES_KILL_VERSION"
	killLine       = "KILLTEST "
	// killTxnTimeoutEnv overrides killTxnTimeout for the raw modes.
	killTxnTimeoutEnv = "KAFKAES_KILL_TXN_TIMEOUT"
	// killTxnTimeout is the transaction timeout of the writers that get
	// killed: the broker aborts their open transaction after it.
	killTxnTimeout = 2 * time.Second
)

// TestKillChildProcess is not a test: it is the writer process that the
// TestKillWriter* tests start from the test binary and kill. It does
// nothing unless KAFKAES_KILL_CHILD is set.
func TestKillChildProcess(t *testing.T) {
	mode := os.Getenv(killModeEnv)
	if mode == "" {
		t.Skip("helper process of TestKillWriter*; runs only when they re-execute the test binary")
	}
	brokers := strings.Split(os.Getenv(killBrokersEnv), ",")
	topic := os.Getenv(killTopicEnv)
	streams := strings.Split(os.Getenv(killStreamsEnv), ",")
	say := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, killLine+format+"\n", args...)
	}
	switch mode {
	case "raw-sigkill", "raw-exit":
		version, err := strconv.ParseInt(os.Getenv(killVersionEnv), 10, 64)
		if err != nil {
			say("ERROR bad version: %v", err)
			os.Exit(2)
		}
		p, err := openTxnProducer(brokers, "kill-child-"+eventstore.NewEventID())
		if err != nil {
			say("ERROR %v", err)
			os.Exit(2)
		}
		ids, err := produceOpenTxn(p, topic, streams, version)
		for _, id := range ids {
			say("ID %s", id)
		}
		if err != nil {
			say("ERROR %v", err)
			os.Exit(2)
		}
		say("READY")
		if mode == "raw-exit" {
			os.Exit(3) // dies with the transaction open, without a word to the broker
		}
		select {} // wait for SIGKILL
	case "store":
		cfg := (&kafkatest.Cluster{Brokers: brokers}).Config()
		client, err := sarama.NewClient(brokers, cfg)
		if err != nil {
			say("ERROR %v", err)
			os.Exit(2)
		}
		ctx := context.Background()
		s, err := kafka.New(ctx, client, topic, kafka.WithTransactionTimeout(killTxnTimeout))
		if err != nil {
			say("ERROR %v", err)
			os.Exit(2)
		}
		say("READY")
		for i := 0; ; i++ {
			stream := streams[i%len(streams)]
			v, err := streamVersion(ctx, s, stream)
			if err != nil {
				say("ERROR read: %v", err)
				os.Exit(2)
			}
			evs, ids := newEvents(1+i%3, "child")
			say("TRY %s %s", stream, strings.Join(ids, ","))
			res, err := s.Append(ctx, stream, eventstore.Exact(v), evs...)
			switch classify(err) {
			case logcheck.Acked:
				say("ACK %s %d %s", stream, res.Version, strings.Join(ids, ","))
			case logcheck.Failed:
				say("FAIL %s %s", stream, strings.Join(ids, ","))
			}
		}
	default:
		say("ERROR unknown mode %q", mode)
		os.Exit(2)
	}
}

// openTxnProducer returns a transactional sarama producer that places keys
// like the store does, with a short transaction timeout.
func openTxnProducer(brokers []string, txnID string) (sarama.SyncProducer, error) {
	cfg := (&kafkatest.Cluster{Brokers: brokers}).TransactionalConfig(txnID)
	cfg.Producer.Transaction.Timeout = killTxnTimeout
	if d, err := time.ParseDuration(os.Getenv(killTxnTimeoutEnv)); err == nil {
		cfg.Producer.Transaction.Timeout = d
	}
	cfg.Producer.Partitioner = wire.NewPartitioner
	return sarama.NewSyncProducer(brokers, cfg)
}

// produceOpenTxn begins a transaction and writes one valid event record
// at version to each stream, then leaves the transaction open. It returns
// the event IDs it wrote.
func produceOpenTxn(p sarama.SyncProducer, topic string, streams []string, version int64) ([]string, error) {
	if err := p.BeginTxn(); err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	var ids []string
	for _, stream := range streams {
		ev := eventstore.Event{ID: eventstore.NewEventID(), Type: "kill.Uncommitted", Data: []byte(`{}`)}
		key, hs := wire.Encode(stream, version, ev, time.Now())
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(ev.Data), Headers: hs}); err != nil {
			return ids, fmt.Errorf("produce to %s: %w", stream, err)
		}
		ids = append(ids, ev.ID)
	}
	return ids, nil
}

// killChild starts the test binary as a writer process in mode and returns
// it with a scanner over its KILLTEST lines.
func killChild(t testing.TB, mode string, brokers []string, topic string, streams []string, version int64) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		killModeEnv+"="+mode,
		killBrokersEnv+"="+strings.Join(brokers, ","),
		killTopicEnv+"="+topic,
		killStreamsEnv+"="+strings.Join(streams, ","),
		killVersionEnv+"="+strconv.FormatInt(version, 10),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start writer process: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := strings.CutPrefix(sc.Text(), killLine); ok {
				lines <- l
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	return cmd, lines
}

// nextLine returns the next KILLTEST line of the child, failing the test
// on an ERROR line, a closed output or a timeout.
func nextLine(t testing.TB, lines <-chan string, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("writer process ended early")
		}
		if strings.HasPrefix(l, "ERROR") {
			t.Fatalf("writer process: %s", l)
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no word from the writer process in %v", timeout)
	}
	return ""
}

// killSetup makes a topic with streams at version 2, appended by the
// store returned, and journals those appends.
func killSetup(t *testing.T, c *kafkatest.Cluster, j *logcheck.Journal) (topic string, streams []string, s *kafka.Store) {
	t.Helper()
	topic = kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	s = openStressStore(t, c, topic, kafka.WithTransactionTimeout(killTxnTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 4 {
		stream := fmt.Sprintf("kill-%d", i)
		streams = append(streams, stream)
		evs, ids := newEvents(2, "setup")
		res, err := s.Append(ctx, stream, eventstore.NoStream, evs...)
		if err != nil {
			t.Fatalf("setup append to %s: %v", stream, err)
		}
		j.Add(logcheck.Append{Writer: "setup", Stream: stream, IDs: ids, Outcome: logcheck.Acked, Version: res.Version, Positions: res.Positions})
	}
	return topic, streams, s
}

// requireWritten checks with a read_uncommitted consumer that the killed
// writer's records really reached the log, so that their absence from the
// read_committed view proves something.
func requireWritten(t *testing.T, c *kafkatest.Cluster, topic string, ids []string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	cfg := c.Config()
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cons, err := sarama.NewConsumer(c.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := cons.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1024)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					if id, ok := wire.Header(m.Headers, wire.HeaderID); ok && want[string(id)] {
						found <- string(id)
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	for len(seen) < len(want) {
		select {
		case id := <-found:
			seen[id] = true
		case <-ctx.Done():
			t.Fatalf("read_uncommitted sees only %d of the %d records of the killed writer's transaction", len(seen), len(want))
		}
	}
	cancel()
	wg.Wait()
}

// carryOn appends to every stream through each store, reading the version
// and retrying on conflicts as an aggregate repository does, until each
// append succeeds. A transaction left open by a dead writer may hold
// appends back until the broker aborts it (the transaction timeout), not
// for longer.
func carryOn(t *testing.T, j *logcheck.Journal, streams []string, stores ...*kafka.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), killTxnTimeout+time.Minute)
	defer cancel()
	start := time.Now()
	for si, s := range stores {
		for _, stream := range streams {
			for attempt := 1; ; attempt++ {
				v, err := streamVersion(ctx, s, stream)
				if err != nil {
					t.Fatalf("store %d: read %s: %v", si, stream, err)
				}
				evs, ids := newEvents(1, "carry-on")
				res, err := s.Append(ctx, stream, eventstore.Exact(v), evs...)
				out := classify(err)
				j.Add(logcheck.Append{Writer: fmt.Sprintf("carry-on store %d", si), Stream: stream, IDs: ids, Outcome: out, Version: res.Version, Positions: res.Positions, Err: err})
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("store %d: append to %s still failing after %v (%d attempts): %v", si, stream, time.Since(start), attempt, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	t.Logf("other writers appended to all %d streams %v after the writer died", len(streams), time.Since(start).Round(time.Millisecond))
}

// checkLog reads the topic with a plain read_committed consumer and checks
// it against the journal.
func checkLog(t *testing.T, c *kafkatest.Cluster, topic string, partitions int32, j *logcheck.Journal) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), killTxnTimeout+time.Minute)
	defer cancel()
	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	if err != nil {
		t.Fatal(err)
	}
	r := logcheck.Check(log, partitions, j.Appends())
	for _, p := range r.Problems {
		t.Error(p)
	}
	t.Logf("log: %d events in %d streams", r.Events, r.Streams)
}

// TestKillWriterMidTransaction kills a writer process that has produced
// events (at the streams' next versions) inside an open transaction: by
// SIGKILL, or by exiting on its own. Nothing it wrote may become visible to
// read_committed readers, and store instances appending to the same
// streams must carry on (at worst after the transaction timeout).
func TestKillWriterMidTransaction(t *testing.T) {
	for _, mode := range []string{"raw-sigkill", "raw-exit"} {
		t.Run(mode, func(t *testing.T) {
			c := kafkatest.New(t)
			var j logcheck.Journal
			topic, streams, s := killSetup(t, c, &j)
			cmd, lines := killChild(t, mode, c.Brokers, topic, streams, 3)
			var ids []string
			for {
				l := nextLine(t, lines, time.Minute)
				if id, ok := strings.CutPrefix(l, "ID "); ok {
					ids = append(ids, id)
				}
				if l == "READY" {
					break
				}
			}
			j.Add(logcheck.Append{Writer: "killed child", Stream: "kill-*", IDs: ids, Outcome: logcheck.Failed, Err: errors.New("killed before commit")})
			requireWritten(t, c, topic, ids)
			if mode == "raw-sigkill" {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			_ = cmd.Wait()
			carryOn(t, &j, streams, s, openStressStore(t, c, topic))
			checkLog(t, c, topic, 2, &j)
		})
	}
}

// TestKillWriterClientTornDown is the in-process variant: a transactional
// producer is torn down (producer and client closed, no abort) with its
// transaction open.
func TestKillWriterClientTornDown(t *testing.T) {
	c := kafkatest.New(t)
	var j logcheck.Journal
	topic, streams, s := killSetup(t, c, &j)
	p, err := openTxnProducer(c.Brokers, kafkatest.TopicName(t, "txid"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := produceOpenTxn(p, topic, streams, 3)
	if err != nil {
		t.Fatal(err)
	}
	j.Add(logcheck.Append{Writer: "torn-down producer", Stream: "kill-*", IDs: ids, Outcome: logcheck.Failed, Err: errors.New("torn down before commit")})
	requireWritten(t, c, topic, ids)
	if err := p.Close(); err != nil { // sarama's Close does not end the transaction
		t.Logf("close producer: %v", err)
	}
	carryOn(t, &j, streams, s, openStressStore(t, c, topic))
	checkLog(t, c, topic, 2, &j)
}

// TestKillWriterStoreProcess kills (SIGKILL) a process running a real store
// that appends to the same streams as this process, at an arbitrary point
// of its work, most likely inside a group-commit transaction. Its
// acknowledged appends must survive, its other appends must be all there
// or not at all, and the surviving store must carry on.
func TestKillWriterStoreProcess(t *testing.T) {
	c := kafkatest.New(t)
	var j logcheck.Journal
	topic, streams, s := killSetup(t, c, &j)
	cmd, lines := killChild(t, "store", c.Brokers, topic, streams, 0)
	if l := nextLine(t, lines, time.Minute); l != "READY" {
		t.Fatalf("writer process said %q, want READY", l)
	}

	// Compete with the child while it runs.
	ctx, stop := context.WithCancel(context.Background())
	var n stressCounts
	var wg sync.WaitGroup
	wg.Go(func() {
		stressWorker(ctx, t, s, "parent", streams, time.Now().Add(time.Minute), &j, &n)
	})

	tries := map[string]logcheck.Append{}
	acks := 0
	for acks < 30 {
		f := strings.Fields(nextLine(t, lines, time.Minute))
		switch {
		case len(f) == 3 && f[0] == "TRY":
			tries[f[2]] = logcheck.Append{Writer: "child store", Stream: f[1], IDs: strings.Split(f[2], ","), Outcome: logcheck.Unknown, Err: errors.New("killed")}
		case len(f) == 4 && f[0] == "ACK":
			v, _ := strconv.ParseInt(f[2], 10, 64)
			tries[f[3]] = logcheck.Append{Writer: "child store", Stream: f[1], IDs: strings.Split(f[3], ","), Outcome: logcheck.Acked, Version: v}
			acks++
		case len(f) == 3 && f[0] == "FAIL":
			tries[f[2]] = logcheck.Append{Writer: "child store", Stream: f[1], IDs: strings.Split(f[2], ","), Outcome: logcheck.Failed, Err: eventstore.ErrConcurrencyConflict}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill may still be in the pipe: read them all
	// (the pipe ends when the process is gone) before Wait closes it.
	for l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "TRY":
			tries[f[2]] = logcheck.Append{Writer: "child store", Stream: f[1], IDs: strings.Split(f[2], ","), Outcome: logcheck.Unknown, Err: errors.New("killed")}
		case len(f) == 4 && f[0] == "ACK":
			v, _ := strconv.ParseInt(f[2], 10, 64)
			tries[f[3]] = logcheck.Append{Writer: "child store", Stream: f[1], IDs: strings.Split(f[3], ","), Outcome: logcheck.Acked, Version: v}
		case len(f) == 3 && f[0] == "FAIL":
			tries[f[2]] = logcheck.Append{Writer: "child store", Stream: f[1], IDs: strings.Split(f[2], ","), Outcome: logcheck.Failed, Err: eventstore.ErrConcurrencyConflict}
		}
	}
	_ = cmd.Wait()
	stop()
	wg.Wait()
	for _, a := range tries {
		j.Add(a)
	}
	t.Logf("killed the writer process after %d acknowledged appends; this process made %d", acks, n.acked.Load())
	carryOn(t, &j, streams, s, openStressStore(t, c, topic))
	checkLog(t, c, topic, 2, &j)
}
