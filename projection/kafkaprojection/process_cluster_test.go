package kafkaprojection_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/internal/wire"
)

// TestClusterProcessManagerFaults runs the ledger process manager
// (consume, decide, append with the concurrency check and commit the
// consumer offsets, all in one Kafka transaction) in two child processes
// on the 3-node cluster of scripts/kafka-cluster.sh (replication factor 3,
// min.insync.replicas=2) while new input events keep arriving, and drives
// broker faults one after another, waiting after each until the managers
// decide again:
//
//  1. SIGKILL the group coordinator of the managers' consumer group,
//     restart it 2 s later;
//  2. SIGKILL the broker leading most partitions, restart it 2 s later;
//  3. SIGSTOP the broker leading most partitions for the transaction
//     timeout + 3 s, then SIGCONT;
//  4. SIGKILL two brokers at once (quorum and min ISR lost), restart them
//     2 s later;
//  5. SIGKILL one manager process (most likely inside a transaction) and
//     start a replacement.
//
// Then the input stops and, checked from the log with a read_committed
// reader: every input event in the log has its effect exactly once (none
// lost, none doubled, although managers re-decided events whose
// transactions were aborted), and no effect exists without an input.
//
// It needs KAFKAES_CLUSTER_CTL (scripts/kafka-cluster.sh, set with
// KAFKAES_BROKERS by its env command) and skips otherwise.
func TestClusterProcessManagerFaults(t *testing.T) {
	ctl := os.Getenv("KAFKAES_CLUSTER_CTL")
	if ctl == "" || os.Getenv("KAFKAES_BROKERS") == "" {
		t.Skip("needs the 3-node cluster of scripts/kafka-cluster.sh: scripts/kafka-cluster.sh start && eval \"$(scripts/kafka-cluster.sh env)\"")
	}
	const txnTimeout = 5 * time.Second // the children's kafka.WithTransactionTimeout
	c, topic := eventsTopic(t, 6)
	group := kafkatest.TopicName(t, "group")
	client := c.Client(t)
	ctx := timeout(t, 12*time.Minute)
	cl := kafkatest.NewClusterCtl(t, ctl)
	run := cl.Run
	t.Cleanup(func() {
		// Leave every node running for the tests after this one.
		_ = exec.Command("bash", ctl, "resume", "1").Run()
		_ = exec.Command("bash", ctl, "resume", "2").Run()
		_ = exec.Command("bash", ctl, "resume", "3").Run()
		_ = exec.Command("bash", ctl, "start").Run()
	})

	// The input: Deposited events, each to a stream of its own (so a send
	// whose outcome is unknown cannot leave a version gap), written by a
	// plain idempotent producer that rides through the faults.
	feed := newFeeder(t, c, topic)
	fctx, stopFeed := context.WithCancel(ctx)
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); feed.run(fctx) }()
	t.Cleanup(func() { stopFeed(); <-feedDone }) // before the producer closes

	// The managers' logs: in KAFKAES_PM_LOG_DIR when set (kept after the
	// test, for diagnosis), else in a temporary directory.
	dir := os.Getenv("KAFKAES_PM_LOG_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	var decided atomic.Int64
	type child struct {
		cmd  *exec.Cmd
		done chan struct{}
	}
	var mu sync.Mutex
	children := map[string]*child{}
	decisions := map[string][]string{} // input ID -> manager@time of each decision
	start := func(name string) {
		cfg, _ := json.Marshal(processChild{Brokers: c.Brokers, Topic: topic, Group: group, Name: name, SlowDecisions: true, Trace: os.Getenv("KAFKAES_PM_LOG_DIR") != ""})
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessManagerChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), processChildEnv+"="+string(cfg))
		// The managers' warnings (a batch that keeps meeting conflicts
		// on the four ledgers, a broker away) run to thousands of lines:
		// they go to a file, whose end is printed if the test fails.
		logPath := filepath.Join(dir, name+".log")
		logFile, err := os.Create(logPath)
		require.NoError(t, err)
		defer logFile.Close()
		cmd.Stderr = logFile
		t.Cleanup(func() {
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("last lines of manager %s's log (%s):\n%s", name, logPath, strings.Join(lines[max(0, len(lines)-30):], "\n"))
			}
		})
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		ch := &child{cmd: cmd, done: make(chan struct{})}
		mu.Lock()
		children[name] = ch
		mu.Unlock()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-ch.done })
		ready := make(chan struct{})
		go func() {
			defer close(ch.done)
			defer func() { _ = cmd.Wait() }()
			var trace *os.File
			if os.Getenv("KAFKAES_PM_LOG_DIR") != "" {
				trace, _ = os.Create(filepath.Join(dir, name+".out"))
				defer trace.Close()
			}
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if trace != nil {
					fmt.Fprintln(trace, time.Now().UTC().Format("15:04:05.000"), sc.Text())
				}
				f := strings.Fields(sc.Text())
				switch {
				case len(f) >= 2 && f[0] == "PM" && f[1] == "ERROR":
					t.Errorf("process manager %s ended: %s", name, sc.Text())
				case len(f) == 3 && f[0] == "PM" && f[2] == "READY":
					close(ready)
				case len(f) == 4 && f[0] == "PM" && f[2] == "DECIDED":
					decided.Add(1)
					mu.Lock()
					decisions[f[3]] = append(decisions[f[3]], name+"@"+time.Now().UTC().Format("15:04:05.000"))
					mu.Unlock()
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(time.Minute):
			t.Fatalf("process manager %s did not start within a minute", name)
		}
	}
	// progress waits until the managers have decided min more events.
	progress := func(what string, min int64) {
		t.Helper()
		from, t0 := decided.Load(), time.Now()
		for decided.Load() < from+min {
			if time.Since(t0) > 2*time.Minute {
				t.Fatalf("%s: the process managers decided %d events in 2m, want %d", what, decided.Load()-from, min)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s: the managers decided %d events in %v", what, decided.Load()-from, time.Since(t0).Round(10*time.Millisecond))
	}
	leaderOfMost := func() int32 {
		lead, _ := kafkatest.LeaderOfMost(t, client, topic)
		return lead
	}

	start("A")
	start("B")
	progress("start", 100)

	// 1. The group coordinator.
	require.NoError(t, client.RefreshCoordinator(group))
	co, err := client.Coordinator(group)
	require.NoError(t, err)
	run("kill", fmt.Sprint(co.ID()))
	time.Sleep(2 * time.Second)
	run("start", fmt.Sprint(co.ID()))
	progress(fmt.Sprintf("after SIGKILL of the group coordinator (broker %d)", co.ID()), 100)

	// 2. The leader of most partitions.
	lead := leaderOfMost()
	run("kill", fmt.Sprint(lead))
	time.Sleep(2 * time.Second)
	run("start", fmt.Sprint(lead))
	progress(fmt.Sprintf("after SIGKILL of broker %d (leader of most partitions)", lead), 100)

	// 3. A paused leader, past the transaction timeout.
	lead = leaderOfMost()
	run("pause", fmt.Sprint(lead))
	time.Sleep(txnTimeout + 3*time.Second)
	run("resume", fmt.Sprint(lead))
	progress(fmt.Sprintf("after SIGSTOP of broker %d for %v", lead, txnTimeout+3*time.Second), 100)

	// 4. Two brokers at once.
	lead = leaderOfMost()
	other := lead%3 + 1
	var wg sync.WaitGroup
	wg.Go(func() { run("kill", fmt.Sprint(lead)) })
	wg.Go(func() { run("kill", fmt.Sprint(other)) })
	wg.Wait()
	time.Sleep(2 * time.Second)
	wg.Go(func() { run("start", fmt.Sprint(lead)) })
	wg.Go(func() { run("start", fmt.Sprint(other)) })
	wg.Wait()
	progress(fmt.Sprintf("after SIGKILL of brokers %d and %d at once", lead, other), 100)

	// 5. A manager process killed (its decisions take a while, so most
	// likely inside a transaction), a replacement started.
	mu.Lock()
	a := children["A"]
	mu.Unlock()
	require.NoError(t, a.cmd.Process.Kill())
	<-a.done
	t.Log("process manager A killed (SIGKILL)")
	start("C")
	progress("after SIGKILL of manager A and the start of C", 100)

	stopFeed()
	<-feedDone
	sent, failed := feed.counts()
	ids := inputIDs(t, c, topic)
	t.Logf("input: %d events in the log (%d sends acknowledged, %d failed or unknown)", len(ids), sent, failed)
	require.GreaterOrEqual(t, len(ids), sent, "every acknowledged input must be in the log")
	allRecorded(t, c, topic, len(ids), 3*time.Minute, "the managers must record every input event")
	mu.Lock()
	for _, ch := range children {
		_ = ch.cmd.Process.Kill()
	}
	mu.Unlock()
	// A killed manager's last transaction may stay open until the broker
	// aborts it; a complete read waits for that.
	got := allRecorded(t, c, topic, len(ids), time.Minute, "a complete read after the managers stopped")
	var wrong []string
	for _, id := range ids {
		if got[id] != 1 {
			wrong = append(wrong, id)
		}
	}
	if len(wrong) > 0 {
		explainRecords(t, c.Brokers, topic, wrong, dir)
		mu.Lock()
		for _, id := range wrong {
			t.Logf("explain: decisions on %s: %v", id, decisions[id])
		}
		mu.Unlock()
	}
	for _, id := range ids {
		require.Equal(t, 1, got[id], "input event %s must be recorded exactly once", id)
	}
	require.Len(t, got, len(ids), "no effect without an input event")
	t.Logf("every one of %d input events recorded exactly once; %d decisions in all (re-decisions after aborted transactions and the kill included)", len(ids), decided.Load())
}

// feeder writes Deposited events, each to a stream of its own, with a
// plain idempotent producer, until its context ends; failed sends are
// counted, not fatal (a broker is down).
type feeder struct {
	p            sarama.SyncProducer
	topic        string
	mu           sync.Mutex
	sent, failed int
}

func newFeeder(t *testing.T, c *kafkatest.Cluster, topic string) *feeder {
	cfg := c.Config()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 3
	cfg.Producer.Partitioner = wire.NewPartitioner
	p, err := sarama.NewSyncProducer(c.Brokers, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return &feeder{p: p, topic: topic}
}

func (f *feeder) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		data, _ := json.Marshal(Deposited{Amount: int64(i)})
		key, hs := wire.Encode(fmt.Sprint("in-", i), 1, eventstore.Event{ID: eventstore.NewEventID(), Type: "test.Deposited", Data: data}, time.Now())
		_, _, err := f.p.SendMessage(&sarama.ProducerMessage{Topic: f.topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(data), Headers: hs})
		f.mu.Lock()
		if err != nil {
			f.failed++
		} else {
			f.sent++
		}
		f.mu.Unlock()
		wait := 10 * time.Millisecond
		if err != nil {
			wait = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func (f *feeder) counts() (sent, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent, f.failed
}

// explainRecords logs, for input events not recorded exactly once, every
// record of the topic that carries or records them, as an independent
// read_committed consumer (franz-go) sees them: partition, offset, stream,
// version, the writing producer's ID and epoch, and the time; and the
// managers' log lines that name the records' streams' partitions. It is
// what a failure of the exactly-once check needs to be diagnosed.
func explainRecords(t *testing.T, brokers []string, topic string, inputs []string, logDir string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range inputs {
		want[id] = true
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Logf("explain: %v", err)
		return
	}
	defer cl.Close()
	counts := map[string]int{}
	var lines []string
	quiet := 0
	for quiet < 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var typ, ver, id string
			for _, h := range r.Headers {
				switch h.Key {
				case wire.HeaderType:
					typ = string(h.Value)
				case wire.HeaderVersion:
					ver = string(h.Value)
				case wire.HeaderID:
					id = string(h.Value)
				}
			}
			var in struct {
				Input string `json:"input"`
			}
			_ = json.Unmarshal(r.Value, &in)
			switch {
			case typ == "test.Recorded" && want[in.Input]:
				counts[in.Input]++
				lines = append(lines, fmt.Sprintf("effect of %s: event %s, %s v%s at %d/%d, producer %d epoch %d, %s",
					in.Input, id, r.Key, ver, r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch, r.Timestamp.UTC().Format("15:04:05.000")))
			case typ == "test.Deposited":
				for _, h := range r.Headers {
					if h.Key == wire.HeaderID && want[string(h.Value)] {
						lines = append(lines, fmt.Sprintf("input %s: %s at %d/%d, producer %d epoch %d, %s",
							h.Value, r.Key, r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch, r.Timestamp.UTC().Format("15:04:05.000")))
					}
				}
			}
		})
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	t.Logf("explain: an independent read_committed consumer (franz-go) counts the effects %v", counts)
	for _, l := range lines {
		t.Log("explain: " + l)
	}
	files, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		t.Logf("explain: manager log %s has %d bytes; kept at %s", filepath.Base(f), len(b), f)
	}
}
