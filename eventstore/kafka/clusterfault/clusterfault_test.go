package clusterfault_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// The cluster and the load.
const (
	envCtl         = "KAFKAES_CLUSTER_CTL" // scripts/kafka-cluster.sh, set by its env command
	numPartitions  = 6
	numStreams     = 50
	numWriters     = 4
	writerWorkers  = 2 // appending goroutines per writer process
	txnTimeout     = kafka.DefaultTransactionTimeout
	steady         = 4 * time.Second  // quiet time after a recovery before the next fault
	recoverTimeout = 90 * time.Second // longest wait for the cluster to serve every writer again
)

func TestMain(m *testing.M) {
	if os.Getenv(envWriter) == "" && (os.Getenv(envCtl) == "" || os.Getenv("KAFKAES_BROKERS") == "") {
		fmt.Fprintf(os.Stderr, "clusterfault: NOT RUN: the cluster fault test needs a 3-node cluster: scripts/kafka-cluster.sh start && eval \"$(scripts/kafka-cluster.sh env)\" (KAFKAES_CLUSTER_CTL and KAFKAES_BROKERS unset)\n")
	}
	os.Exit(m.Run())
}

// writer is a writer process.
type writer struct {
	name    string
	prefix  string // transactional ID prefix
	journal string
	cmd     *exec.Cmd
	done    chan struct{}
	started time.Time
	killed  bool
}

type harness struct {
	t       *testing.T
	ctl     *kafkatest.ClusterCtl
	brokers []string
	topic   string
	dir     string
	run     string // unique run ID
	tail    *tail
	client  sarama.Client

	mu      sync.Mutex
	writers []*writer
	faults  []*fault
}

func (h *harness) startWriter(name string, env ...string) *writer {
	h.t.Helper()
	w := &writer{name: name, prefix: "cf-" + h.run + "-" + name, journal: filepath.Join(h.dir, name+".journal"), done: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^TestClusterFaultWriter$", "-test.count=1", "-test.timeout=0")
	w.cmd.Env = append(os.Environ(),
		envWriter+"="+name,
		envBrokers+"="+strings.Join(h.brokers, ","),
		envTopic+"="+h.topic,
		envStreams+"="+strconv.Itoa(numStreams),
		envJournal+"="+w.journal,
		envPrefix+"="+w.prefix,
		envWorkers+"="+strconv.Itoa(writerWorkers),
	)
	w.cmd.Env = append(w.cmd.Env, env...)
	logf, err := os.Create(filepath.Join(h.dir, name+".log"))
	if err != nil {
		h.t.Fatal(err)
	}
	w.cmd.Stderr = logf
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		h.t.Fatalf("start writer %s: %v", name, err)
	}
	w.started = time.Now()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if sc.Text() == "WRITER "+name+" READY" {
				close(ready)
			}
		}
		_ = w.cmd.Wait()
		_ = logf.Close()
		close(w.done)
	}()
	select {
	case <-ready:
	case <-w.done:
		h.t.Fatalf("writer %s exited before it was ready (log %s)", name, filepath.Join(h.dir, name+".log"))
	case <-time.After(2 * time.Minute):
		h.t.Fatalf("writer %s not ready after 2 minutes (log %s)", name, filepath.Join(h.dir, name+".log"))
	}
	h.mu.Lock()
	h.writers = append(h.writers, w)
	h.mu.Unlock()
	h.t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
	})
	return w
}

func (h *harness) live() []*writer {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*writer
	for _, w := range h.writers {
		if !w.killed {
			out = append(out, w)
		}
	}
	return out
}

// awaitProgress waits until every live writer has an event committed and
// seen by the tail after since, and every partition in parts has one too.
func (h *harness) awaitProgress(since time.Time, parts []int32) time.Time {
	h.t.Helper()
	deadline := time.Now().Add(recoverTimeout)
	for {
		ok := true
		for _, w := range h.live() {
			if h.tail.lastSeen(w.name) < since.UnixNano() {
				ok = false
			}
		}
		for _, p := range parts {
			if h.tail.partitionSeen(p) < since.UnixNano() {
				ok = false
			}
		}
		if ok {
			return time.Now()
		}
		if time.Now().After(deadline) {
			var lag []string
			for _, w := range h.live() {
				if s := h.tail.lastSeen(w.name); s < since.UnixNano() {
					lag = append(lag, fmt.Sprintf("%s (last event seen %v before)", w.name, since.Sub(time.Unix(0, s)).Round(time.Millisecond)))
				}
			}
			h.t.Fatalf("no recovery %v after %v: writers without a committed append since: %v; partitions to hear from: %v (journals and logs in %s)",
				recoverTimeout, since.Format(time.RFC3339Nano), lag, parts, h.dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaderOfMost returns the broker ID that leads most partitions of the topic.
func (h *harness) leaderOfMost() (int32, map[int32]int) {
	h.t.Helper()
	return kafkatest.LeaderOfMost(h.t, h.client, h.topic)
}

// coordinator returns the broker ID of the transaction coordinator of
// writer w's first transactional producer.
func (h *harness) coordinator(w *writer) int32 {
	h.t.Helper()
	id := w.prefix + "-0"
	if err := h.client.RefreshTransactionCoordinator(id); err != nil {
		h.t.Fatalf("find the transaction coordinator of %s: %v", id, err)
	}
	b, err := h.client.TransactionCoordinator(id)
	if err != nil {
		h.t.Fatalf("transaction coordinator of %s: %v", id, err)
	}
	return b.ID()
}

// fault is one fault of the sequence and what the test learnt about it.
type fault struct {
	name      string
	start     time.Time // when the fault began
	back      time.Time // when the broker(s) served again (or the replacement writer started)
	recovered time.Time // when every writer had appended again
	end       time.Time // start of the next fault (or the end of the load)
	// For the writer kill: the killed writer, and the partitions it may
	// have had an open transaction on.
	killed    string
	openParts []int32
	decided   time.Time // when the broker had decided its open transaction
}

func (h *harness) begin(name string) *fault {
	f := &fault{name: name, start: time.Now()}
	h.mu.Lock()
	if n := len(h.faults); n > 0 {
		h.faults[n-1].end = f.start
	}
	h.faults = append(h.faults, f)
	h.mu.Unlock()
	h.t.Logf("fault: %s", name)
	return f
}

// recover waits until the cluster serves every node and every writer
// appends again, then lets the load run steadily for a while.
func (h *harness) recover(f *fault, parts ...int32) {
	h.t.Helper()
	h.ctl.Run("wait")
	if f.back.IsZero() {
		f.back = time.Now()
	}
	f.recovered = h.awaitProgress(f.back, parts)
	h.t.Logf("fault %s: every writer appended again %v after the cluster was back", f.name, f.recovered.Sub(f.back).Round(time.Millisecond))
	time.Sleep(steady)
}

func idstr(id int32) string { return strconv.Itoa(int(id)) }

// TestClusterFaults runs writer processes against a 3-node cluster while it
// drives faults one after another, then checks the log and the journals.
// It needs the cluster of scripts/kafka-cluster.sh (KAFKAES_CLUSTER_CTL and
// KAFKAES_BROKERS, as its env command prints) and says so when they are
// unset.
func TestClusterFaults(t *testing.T) {
	path := os.Getenv(envCtl)
	if path == "" || os.Getenv("KAFKAES_BROKERS") == "" {
		t.Skip("NOT RUN: needs a 3-node cluster: scripts/kafka-cluster.sh start && eval \"$(scripts/kafka-cluster.sh env)\"")
	}
	h := &harness{t: t, ctl: kafkatest.NewClusterCtl(t, path), brokers: strings.Split(os.Getenv("KAFKAES_BROKERS"), ",")}
	h.run = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	h.topic = "clusterfault-" + h.run
	dir, err := os.MkdirTemp("", "clusterfault-")
	if err != nil {
		t.Fatal(err)
	}
	h.dir = dir
	t.Logf("journals and writer logs in %s; topic %s", dir, h.topic)
	h.ctl.Run("wait")

	cfg := (&kafkatest.Cluster{Brokers: h.brokers}).Config()
	h.client, err = sarama.NewClient(h.brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.client.Close()
	admin, err := sarama.NewClusterAdminFromClient(h.client)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic(h.topic, &sarama.TopicDetail{NumPartitions: numPartitions, ReplicationFactor: 3, ConfigEntries: kafkatest.EventsTopicConfig()}, false); err != nil {
		t.Fatalf("create topic %s: %v", h.topic, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.tail, err = startTail(ctx, h.brokers, h.topic, numPartitions)
	if err != nil {
		t.Fatal(err)
	}
	defer h.tail.cl.Close()
	// The tail reads every partition before the load starts, so that its
	// stall figures measure the cluster, not its own start.
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	err = h.tail.sync(sctx)
	scancel()
	if err != nil {
		t.Fatal(err)
	}

	// w1, whose transaction coordinator is killed and which is killed
	// itself with a transaction open, runs one transactional producer (the
	// store's default is 2), so that "its coordinator" and "its open
	// transaction" are one each.
	h.startWriter("w1", envProducers+"=1")
	for i := 1; i < numWriters; i++ {
		h.startWriter(fmt.Sprintf("w%d", i+1))
	}
	base := h.begin("none (baseline)")
	base.back = base.start
	h.awaitProgress(base.start, nil)
	base.recovered = time.Now()
	time.Sleep(2 * steady)

	// 1. SIGKILL the broker leading most partitions; restart it.
	lead, counts := h.leaderOfMost()
	f := h.begin(fmt.Sprintf("SIGKILL broker %d (leader of %d of %d partitions), restart", lead, counts[lead], numPartitions))
	h.ctl.Run("kill", idstr(lead))
	time.Sleep(2 * time.Second)
	h.ctl.Run("start", idstr(lead))
	f.back = time.Now()
	h.recover(f)

	// 2, 3. SIGKILL the transaction coordinator of a writer, restart after
	// 1 s and, another time, after 7 s.
	for _, down := range []time.Duration{time.Second, 7 * time.Second} {
		w := h.live()[0]
		co := h.coordinator(w)
		f := h.begin(fmt.Sprintf("SIGKILL broker %d (transaction coordinator of %s), restart after %v", co, w.name, down))
		h.ctl.Run("kill", idstr(co))
		time.Sleep(down)
		h.ctl.Run("start", idstr(co))
		f.back = time.Now()
		h.recover(f)
	}

	// 4. SIGSTOP a broker (the leader of most partitions) for longer than
	// the transaction timeout, then SIGCONT.
	lead, counts = h.leaderOfMost()
	pause := txnTimeout + 5*time.Second
	f = h.begin(fmt.Sprintf("SIGSTOP broker %d (leader of %d of %d partitions) for %v, SIGCONT", lead, counts[lead], numPartitions, pause))
	h.ctl.Run("pause", idstr(lead))
	time.Sleep(pause)
	h.ctl.Run("resume", idstr(lead))
	f.back = time.Now()
	h.recover(f)

	// 5. SIGKILL two brokers at once, restart them.
	lead, _ = h.leaderOfMost()
	other := lead%3 + 1
	f = h.begin(fmt.Sprintf("SIGKILL brokers %d and %d at once, restart", lead, other))
	var wg sync.WaitGroup
	wg.Go(func() { h.ctl.Run("kill", idstr(lead)) })
	wg.Go(func() { h.ctl.Run("kill", idstr(other)) })
	wg.Wait()
	time.Sleep(2 * time.Second)
	wg.Go(func() { h.ctl.Run("start", idstr(lead)) })
	wg.Go(func() { h.ctl.Run("start", idstr(other)) })
	wg.Wait()
	f.back = time.Now()
	h.recover(f)

	// 6. SIGKILL a writer process; start a replacement. So that the kill
	// leaves a transaction open (the point of this fault: does a dead
	// writer hold up the others?), the victim is told (SIGUSR1) to SIGKILL
	// itself when it is about to send its next EndTxn request, with its
	// records produced and not committed.
	victim := h.live()[0]
	f = h.begin(fmt.Sprintf("SIGKILL writer process %s with a transaction open, start a replacement", victim.name))
	_ = victim.cmd.Process.Signal(syscall.SIGUSR1)
	select {
	case <-victim.done:
	case <-time.After(time.Minute):
		t.Fatalf("writer %s did not kill itself at an EndTxn within a minute of SIGUSR1", victim.name)
	}
	f.start = time.Now()
	h.mu.Lock()
	victim.killed = true
	n := len(h.writers)
	h.mu.Unlock()
	f.killed = victim.name
	inflight := pendingPartitions(t, victim.journal)
	held, err := h.tail.heldBack(ctx, 3*time.Second)
	if err != nil {
		t.Fatalf("find the partitions held back by an open transaction: %v", err)
	}
	f.openParts = inflight
	for p := range held {
		if !slices.Contains(f.openParts, p) {
			f.openParts = append(f.openParts, p)
		}
	}
	slices.Sort(f.openParts)
	t.Logf("writer %s killed with appends in flight on partitions %v; partitions held back by an open transaction (last stable offset below the high watermark and not moving) 3s after the kill: %v", victim.name, inflight, held)
	if len(held) == 0 {
		t.Logf("WARNING: the kill of writer %s left no transaction open (no partition's last stable offset held back): the bystander figure below measures no dead writer's transaction", victim.name)
	}
	// The replacement starts once the bystander window (the transaction
	// timeout after the kill) is over: its start (a store catching up on
	// the whole topic) would take CPU from the other writers within it.
	time.Sleep(time.Until(f.start.Add(txnTimeout)))
	h.startWriter("w" + strconv.Itoa(n+1))
	dctx, dcancel := context.WithTimeout(ctx, recoverTimeout)
	f.decided, err = h.tail.decided(dctx, held)
	dcancel()
	if err != nil {
		t.Fatalf("the killed writer's open transaction was not decided within %v of the kill: %v", recoverTimeout, err)
	}
	f.back = f.start
	h.recover(f)
	// For this fault the figure of interest is when the partitions it
	// held were free again.
	f.recovered = f.decided

	// Stop the load: SIGTERM lets every writer finish its appends.
	loadEnd := time.Now()
	f.end = loadEnd
	for _, w := range h.live() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range h.live() {
		select {
		case <-w.done:
		case <-time.After(2 * time.Minute):
			t.Errorf("writer %s did not stop within 2 minutes of SIGTERM; killing it", w.name)
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}

	fctx, fcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer fcancel()
	log, err := h.tail.finish(fctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []rec
	for _, w := range h.writers {
		rs, err := readJournal(w.journal)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	res := check(log, recs, h.tail)
	for _, p := range res.problems {
		t.Error(p)
	}
	t.Logf("log: %d events in %d streams; journals: %d appends attempted (%s), %d reads (%s); %d multi-stream append chains (two streams on different partitions each), %d acknowledged",
		len(log), res.streams, res.attempts, res.classes, res.reads, res.readClasses, res.multi, res.multiAcked)
	if res.multi == 0 {
		t.Error("no multi-stream append was attempted: the test proves nothing about their atomicity under faults")
	}
	h.tail.mu.Lock()
	t.Logf("the read_committed tail had %d fetch errors (retried; last: %q)", h.tail.fetchEr, h.tail.lastErr)
	h.tail.mu.Unlock()
	report := figures(h.faults, recs, h.tail)
	t.Logf("figures per fault (4 writer processes x %d goroutines, %d streams, %d partitions RF 3, transaction timeout %v):\n%s",
		writerWorkers, numStreams, numPartitions, txnTimeout, report)
	if p := os.Getenv("KAFKAES_CLUSTERFAULT_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	if !t.Failed() {
		_ = admin.DeleteTopic(h.topic)
		_ = os.RemoveAll(dir)
	} else {
		t.Logf("kept topic %s and the journals in %s", h.topic, dir)
	}
	_ = admin.Close()
}

// pendingPartitions returns the partitions of the appends that a killed
// writer had begun and not finished.
func pendingPartitions(t *testing.T, path string) []int32 {
	t.Helper()
	rs, err := readJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	open := map[string][]string{} // attempt -> its streams
	for _, r := range rs {
		switch r.K {
		case kindTry:
			open[r.A] = []string{r.S}
			for _, e := range r.More {
				open[r.A] = append(open[r.A], e.S)
			}
		case kindRes:
			delete(open, r.A)
		}
	}
	var parts []int32
	for _, ss := range open {
		for _, s := range ss {
			if p := partitionOf(s); !slices.Contains(parts, p) {
				parts = append(parts, p)
			}
		}
	}
	slices.Sort(parts)
	return parts
}
