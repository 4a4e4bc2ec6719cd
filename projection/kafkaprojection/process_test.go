package kafkaprojection_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
	"github.com/kafkaes/kafkaes/projection/process"
	"github.com/kafkaes/kafkaes/serde"
)

// Ledger is the aggregate the test process manager writes: every
// Deposited event is recorded in one of a few ledgers, so that managers
// working on different partitions conflict on them.
type Ledger struct {
	aggregate.Root
	Entries int
}

// Recorded is the effect of one input event.
type Recorded struct {
	Input string `json:"input"`
}

func (l *Ledger) Apply(ev any) {
	if _, ok := ev.(Recorded); ok {
		l.Entries++
	}
}

func processSerde() *serde.JSON {
	reg := serde.NewRegistry()
	serde.MustRegister[Deposited](reg, "test.Deposited")
	serde.MustRegister[Recorded](reg, "test.Recorded")
	return serde.NewJSON(reg)
}

const ledgers = 4

// ledgerManager returns a process manager that records every Deposited
// event in ledger "ledger-<amount mod 4>", committing through c.
func ledgerManager(t testing.TB, store eventstore.Store, c process.Committer, onDecide func(projection.Meta)) *process.Manager {
	sd := processSerde()
	repo := aggregate.NewRepository(store, sd, func() *Ledger { return &Ledger{} })
	m, err := process.New("ledger", sd, c, []process.Handler{
		process.On(func(ctx context.Context, tx *aggregate.Tx, ev Deposited, meta projection.Meta) error {
			l, err := repo.LoadOrNewIn(tx, fmt.Sprintf("ledger-%d", ev.Amount%ledgers))
			if err != nil {
				return err
			}
			aggregate.Raise(l, Recorded{Input: meta.EventID})
			if onDecide != nil {
				onDecide(meta)
			}
			return nil
		}),
	})
	require.NoError(t, err)
	return m
}

// recordedInputs reads the topic with a plain read_committed consumer
// (through a fresh store's ReadAll) and counts the Recorded events per
// input event ID. ok is false when the read could not reach the end (a
// killed writer's transaction still open): try again.
func recordedInputs(t testing.TB, c *kafkatest.Cluster, topic string) (out map[string]int, ok bool) {
	t.Helper()
	ctx := timeout(t, time.Minute)
	cfg := c.Config()
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	s, err := kafka.New(ctx, c.ClientWith(t, cfg), topic)
	require.NoError(t, err)
	defer s.Close()
	out = map[string]int{}
	for ev, err := range s.ReadAll(ctx, nil, eventstore.WithTypes("test.Recorded")) {
		if errors.Is(err, eventstore.ErrUnavailable) {
			return out, false
		}
		require.NoError(t, err)
		var r Recorded
		require.NoError(t, json.Unmarshal(ev.Data, &r))
		out[r.Input]++
	}
	return out, true
}

// allRecorded waits until a complete read of the topic finds n recorded
// inputs, and returns it.
func allRecorded(t testing.TB, c *kafkatest.Cluster, topic string, n int, wait time.Duration, msg string) map[string]int {
	t.Helper()
	var got map[string]int
	require.Eventually(t, func() bool {
		var ok bool
		got, ok = recordedInputs(t, c, topic)
		return ok && len(got) >= n
	}, wait, 300*time.Millisecond, msg)
	return got
}

// inputIDs returns the IDs of the Deposited events of the topic, reading
// again while a killed writer's open transaction holds the read back.
func inputIDs(t testing.TB, c *kafkatest.Cluster, topic string) []string {
	t.Helper()
	ctx := timeout(t, time.Minute)
	s, err := kafka.New(ctx, c.Client(t), topic)
	require.NoError(t, err)
	defer s.Close()
	for {
		var ids []string
		var rerr error
		for ev, err := range s.ReadAll(ctx, nil, eventstore.WithTypes("test.Deposited")) {
			if err != nil {
				rerr = err
				break
			}
			ids = append(ids, ev.ID)
		}
		if !errors.Is(rerr, eventstore.ErrUnavailable) || ctx.Err() != nil {
			require.NoError(t, rerr)
			return ids
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newProcessSource is newSource for a process manager.
func newProcessSource(t testing.TB, c *kafkatest.Cluster, topic, group string, opts ...kafkaprojection.Option) *kafkaprojection.Source {
	cfg := c.Config()
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
	src, err := kafkaprojection.NewProcessSource(context.Background(), c.ClientWith(t, cfg), topic, group, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// A process manager refuses to commit through a source that commits
// offsets of its own (a plain NewSource), saying what to use.
func TestProcessCommitterNeedsProcessSource(t *testing.T) {
	c, topic := eventsTopic(t, 1)
	newProducer(t, c, topic).depositN(1, 1)
	group := kafkatest.TopicName(t, "group")
	ctx := timeout(t, time.Minute)
	store, err := kafka.New(ctx, c.Client(t), topic)
	require.NoError(t, err)
	defer store.Close()
	m := ledgerManager(t, store, kafkaprojection.NewProcessCommitter(store, c.Client(t), topic, group), nil)
	err = m.Run(ctx, newSource(t, c, topic, group))
	require.ErrorIs(t, err, eventstore.ErrInvalidArgument)
	require.ErrorContains(t, err, "NewProcessSource")
}

// A process manager on the Kafka store in one process: every input event
// is recorded exactly once, while two managers' partitions conflict on
// the ledgers, and the group's committed offsets reach the end.
func TestProcessManagerKafka(t *testing.T) {
	c, topic := eventsTopic(t, 4)
	const n = 200
	newProducer(t, c, topic).depositN(n, 16)
	group := kafkatest.TopicName(t, "group")
	ctx := timeout(t, 2*time.Minute)

	run := func() (stop func() error) {
		store, err := kafka.New(ctx, c.Client(t), topic)
		require.NoError(t, err)
		t.Cleanup(func() { _ = store.Close() })
		src := newProcessSource(t, c, topic, group, kafkaprojection.WithMaxBatch(8))
		m := ledgerManager(t, store, kafkaprojection.NewProcessCommitter(store, c.Client(t), topic, group), nil)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(rctx, src) }()
		return func() error { cancel(); return <-done }
	}
	stopA := run()
	stopB := run() // joins at once: a rebalance while A processes
	allRecorded(t, c, topic, n, 90*time.Second, "every input event must be recorded")
	require.ErrorIs(t, stopA(), context.Canceled)
	require.ErrorIs(t, stopB(), context.Canceled)

	got := allRecorded(t, c, topic, n, 30*time.Second, "a complete read after the managers stopped")
	for _, id := range inputIDs(t, c, topic) {
		require.Equal(t, 1, got[id], "input event %s must be recorded exactly once", id)
	}
	require.Len(t, got, n)
}

// processChildEnv holds the JSON configuration of a process-manager
// process (TestProcessManagerChild).
const processChildEnv = "KAFKAES_PROCESS_CHILD"

type processChild struct {
	Brokers       []string
	Topic, Group  string
	Name          string
	SlowDecisions bool
	// Trace prints "PM <name> START|COMMIT ..." lines for every start and
	// commit of the committer, with their outcome, for diagnosis.
	Trace bool
}

// tracingCommitter prints every Start and Commit of a process committer
// and its outcome on stdout (see processChild.Trace).
type tracingCommitter struct {
	c    process.Committer
	name string
	mu   *sync.Mutex
}

func (tc tracingCommitter) Start(ctx context.Context, partitions []int32) (eventstore.Checkpoint, error) {
	cp, err := tc.c.Start(ctx, partitions)
	tc.mu.Lock()
	fmt.Println("PM", tc.name, "START", time.Now().UTC().Format("15:04:05.000"), partitions, cp, err)
	tc.mu.Unlock()
	return cp, err
}

func (tc tracingCommitter) Commit(ctx context.Context, partition int32, next int64, appends []eventstore.StreamAppend) ([]eventstore.AppendResult, error) {
	t0 := time.Now().UTC().Format("15:04:05.000")
	res, err := tc.c.Commit(ctx, partition, next, appends)
	sess, _ := kafkaprojection.SessionFrom(ctx)
	var ids []string
	for _, a := range appends {
		for _, ev := range a.Events {
			ids = append(ids, a.StreamID+"/"+ev.ID)
		}
	}
	tc.mu.Lock()
	fmt.Println("PM", tc.name, "COMMIT", t0, time.Now().UTC().Format("15:04:05.000"), "partition", partition, "next", next, "gen", sess.GenerationID, "events", ids, "err", err)
	tc.mu.Unlock()
	return res, err
}

// TestProcessManagerChild is not a test: it is the process-manager process
// that TestProcessManagerKilled starts from the test binary and kills. It
// runs the ledger manager until it is killed, printing "PM <name> DECIDED
// <input ID>" for every decision (before its commit).
func TestProcessManagerChild(t *testing.T) {
	raw := os.Getenv(processChildEnv)
	if raw == "" {
		t.Skip("helper process of TestProcessManagerKilled; runs only when it re-executes the test binary")
	}
	var cfg processChild
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Println("PM ERROR", err)
		os.Exit(2)
	}
	c := &kafkatest.Cluster{Brokers: cfg.Brokers}
	scfg := c.Config()
	scfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	scfg.Consumer.Group.Session.Timeout = 6 * time.Second
	scfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
	client, err := sarama.NewClient(cfg.Brokers, scfg)
	if err != nil {
		fmt.Println("PM ERROR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	store, err := kafka.New(ctx, client, cfg.Topic, kafka.WithTransactionTimeout(5*time.Second))
	if err != nil {
		fmt.Println("PM ERROR", err)
		os.Exit(2)
	}
	src, err := kafkaprojection.NewProcessSource(ctx, client, cfg.Topic, cfg.Group, kafkaprojection.WithMaxBatch(4))
	if err != nil {
		fmt.Println("PM ERROR", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var committer process.Committer = kafkaprojection.NewProcessCommitter(store, client, cfg.Topic, cfg.Group)
	if cfg.Trace {
		committer = tracingCommitter{committer, cfg.Name, &mu}
	}
	m := ledgerManager(t, store, committer, func(meta projection.Meta) {
		mu.Lock()
		fmt.Println("PM", cfg.Name, "DECIDED", meta.EventID)
		mu.Unlock()
		if cfg.SlowDecisions {
			time.Sleep(2 * time.Millisecond) // widen the window in which a transaction is open
		}
	})
	fmt.Println("PM", cfg.Name, "READY")
	err = m.Run(ctx, src)
	fmt.Println("PM ERROR", err)
	os.Exit(2)
}

// TestProcessManagerKilled runs the ledger manager in a child process,
// starts a second one (a rebalance), SIGKILLs the first in the middle of
// its work (most likely inside a transaction: its decisions take a while),
// and lets the second finish. Checked from the log with a read_committed
// reader: every input event's effect is there exactly once, although the
// killed process decided some events whose effects it never committed.
func TestProcessManagerKilled(t *testing.T) {
	c, topic := eventsTopic(t, 4)
	const n = 300
	newProducer(t, c, topic).depositN(n, 16)
	group := kafkatest.TopicName(t, "group")

	decided := map[string]map[string]bool{} // process -> input IDs it decided
	var mu sync.Mutex
	start := func(name string) (*exec.Cmd, <-chan struct{}) {
		cfg, _ := json.Marshal(processChild{Brokers: c.Brokers, Topic: topic, Group: group, Name: name, SlowDecisions: true})
		cmd := exec.Command(os.Args[0], "-test.run=^TestProcessManagerChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), processChildEnv+"="+string(cfg))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		ready := make(chan struct{})
		mu.Lock()
		decided[name] = map[string]bool{}
		mu.Unlock()
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				switch {
				case len(f) >= 2 && f[0] == "PM" && f[1] == "ERROR":
					t.Errorf("process manager %s: %s", name, sc.Text())
				case len(f) == 3 && f[0] == "PM" && f[2] == "READY":
					close(ready)
				case len(f) == 4 && f[0] == "PM" && f[2] == "DECIDED":
					mu.Lock()
					decided[name][f[3]] = true
					mu.Unlock()
				}
			}
		}()
		return cmd, ready
	}
	a, readyA := start("A")
	<-readyA
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(decided["A"]) >= n/6
	}, time.Minute, 10*time.Millisecond, "A must start deciding")
	b, readyB := start("B") // a rebalance while A works
	<-readyB
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, a.Process.Kill()) // SIGKILL, most likely mid-transaction
	_ = a.Wait()

	allRecorded(t, c, topic, n, 2*time.Minute, "B must take over and record every input event")
	_ = b.Process.Kill()
	_ = b.Wait()

	// B was killed too: its last transaction may be open until the
	// broker aborts it; a complete read waits for that.
	got := allRecorded(t, c, topic, n, time.Minute, "a complete read after B stopped")
	ids := inputIDs(t, c, topic)
	require.Len(t, ids, n)
	for _, id := range ids {
		require.Equal(t, 1, got[id], "input event %s must be recorded exactly once", id)
	}
	require.Len(t, got, n, "no effect without an input event")
	mu.Lock()
	defer mu.Unlock()
	both := 0
	for id := range decided["A"] {
		if decided["B"][id] {
			both++
		}
	}
	t.Logf("A decided %d events, B %d; %d were decided by both (A's decisions that never committed, redone by B)", len(decided["A"]), len(decided["B"]), both)
	if both == 0 {
		t.Log("no event was decided twice: the kill did not land inside a batch this time")
	}
}

// A plain offset commit (of a batch that decides nothing) that meets a
// broken connection to the group's coordinator does not end the manager:
// the session restarts from the committed offsets, and every input is
// still recorded exactly once (embedded Kafka only: it breaks the
// connections).
func TestProcessManagerRidesOutBrokenOffsetCommits(t *testing.T) {
	c, topic := eventsTopic(t, 2)
	if c.Fake() == nil {
		t.Skip("breaks connections of the embedded Kafka")
	}
	group := kafkatest.TopicName(t, "group")
	ctx := timeout(t, 2*time.Minute)
	var broken atomic.Int32
	c.Fake().ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.Fake().KeepControl()
		if broken.Add(1) > 3 {
			return nil, nil, false
		}
		return nil, errors.New("test: break the connection"), true // closes the connection
	})
	store, err := kafka.New(ctx, c.Client(t), topic)
	require.NoError(t, err)
	defer store.Close()
	src := newProcessSource(t, c, topic, group, kafkaprojection.WithMaxBatch(4))
	m := ledgerManager(t, store, kafkaprojection.NewProcessCommitter(store, c.Client(t), topic, group), nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx, src) }()
	// Inputs, and between them events the manager does not handle, spread
	// out in time: their batches decide nothing and are committed with
	// plain offset commits (at most one a second per partition).
	prod := newProducer(t, c, topic)
	deposits := 0
	for i := 0; broken.Load() <= 3; i++ {
		require.Less(t, i, 100, "the manager made only %d plain offset commits", broken.Load())
		prod.deposit(fmt.Sprint("in-", i), int64(i))
		deposits++
		prod.event(fmt.Sprint("noise-", i), "test.Noise", []byte("{}"))
		time.Sleep(300 * time.Millisecond)
	}
	got := allRecorded(t, c, topic, deposits, 90*time.Second, "every input event must be recorded")
	select {
	case err := <-done:
		t.Fatalf("the manager ended: %v", err)
	default:
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	for _, id := range inputIDs(t, c, topic) {
		require.Equal(t, 1, got[id], "input event %s must be recorded exactly once", id)
	}
}
