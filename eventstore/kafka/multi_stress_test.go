package kafka_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
)

// transferChildEnv holds the JSON configuration of a transfer writer
// process (transferChild); TestTransferChildProcess does nothing without it.
const transferChildEnv = "KAFKAES_TRANSFER_CHILD"

// transferLine prefixes the lines a transfer writer process reports on.
const transferLine = "TRANSFER "

type transferChild struct {
	Brokers  []string
	Topic    string
	Accounts []string
	Workers  int
	Duration time.Duration
	Name     string
}

// TestTransferChildProcess is not a test: it is the writer process that
// TestStressTransfers starts from the test binary. It moves money between
// accounts with two-stream atomic appends until its duration ends, and
// reports every attempt on stdout:
//
//	TRY <id> <from> <to> <amount>   before the append
//	ACK <id> <from version> <to version>
//	FAIL <id> <error>               an error that promises nothing was written
//	UNKNOWN <id> <error>            even after a retry with the same IDs
func TestTransferChildProcess(t *testing.T) {
	raw := os.Getenv(transferChildEnv)
	if raw == "" {
		t.Skip("helper process of TestStressTransfers; runs only when it re-executes the test binary")
	}
	var cfg transferChild
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, transferLine+format+"\n", args...)
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		say("ERROR bad configuration: %v", err)
		os.Exit(2)
	}
	client, err := sarama.NewClient(cfg.Brokers, (&kafkatest.Cluster{Brokers: cfg.Brokers}).Config())
	if err != nil {
		say("ERROR %v", err)
		os.Exit(2)
	}
	ctx := context.Background()
	s, err := kafka.New(ctx, client, cfg.Topic, kafka.WithTransactionTimeout(5*time.Second))
	if err != nil {
		say("ERROR %v", err)
		os.Exit(2)
	}
	say("READY")
	deadline := time.Now().Add(cfg.Duration)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(w)))
			for n := 0; time.Now().Before(deadline); n++ {
				i, j := rng.IntN(len(cfg.Accounts)), rng.IntN(len(cfg.Accounts)-1)
				if j >= i {
					j++
				}
				from, to := cfg.Accounts[i], cfg.Accounts[j]
				vf, err := streamVersion(ctx, s, from)
				if err == nil {
					var vt int64
					vt, err = streamVersion(ctx, s, to)
					if err == nil {
						id := fmt.Sprintf("%s-w%d-%d", cfg.Name, w, n)
						amount := 1 + rng.IntN(100)
						say("TRY %s %s %s %d", id, from, to, amount)
						appends := []eventstore.StreamAppend{
							{StreamID: from, Expected: eventstore.Exact(vf), Events: []eventstore.Event{{ID: id + "-debit", Type: "Debited", Data: []byte(id + ":" + strconv.Itoa(-amount))}}},
							{StreamID: to, Expected: eventstore.Exact(vt), Events: []eventstore.Event{{ID: id + "-credit", Type: "Credited", Data: []byte(id + ":" + strconv.Itoa(amount))}}},
						}
						res, err := s.AppendMulti(ctx, appends...)
						if errors.Is(err, eventstore.ErrUnknownOutcome) {
							res, err = s.AppendMulti(ctx, appends...) // idempotent
						}
						switch {
						case err == nil:
							say("ACK %s %d %d", id, res[0].Version, res[1].Version)
						case errors.Is(err, eventstore.ErrUnknownOutcome):
							say("UNKNOWN %s %s", id, strings.ReplaceAll(err.Error(), "\n", " "))
						default:
							say("FAIL %s %s", id, strings.ReplaceAll(err.Error(), "\n", " "))
						}
						continue
					}
				}
				say("ERROR read: %v", err)
				os.Exit(2)
			}
		})
	}
	wg.Wait()
	say("DONE")
	_ = s.Close()
	os.Exit(0)
}

// TestStressTransfers runs transfer writer processes (each its own store
// instance, client and producers) that move money between a few accounts
// with atomic two-stream appends on the versions they read, with
// conflicts and retries, and SIGKILLs one of them halfway. Then a plain
// read_committed consumer checks the whole topic: every account has
// versions 1..n without gap or duplicate, every acknowledged transfer is
// there exactly once with both halves at the versions it returned, every
// failed one is absent, the killed writer's last transfer is all there or
// not at all, and money is conserved.
//
// KAFKAES_STRESS_DURATION sets how long the writers run (default 3s, 1s
// with -short).
func TestStressTransfers(t *testing.T) {
	const (
		partitions = 3
		children   = 3
		workers    = 3
		accounts   = 6
		initial    = 1000
	)
	dur := stressDuration(t)
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, partitions, kafkatest.EventsTopicConfig())
	s := openStressStore(t, c, topic)
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("account-%d", i)
		if _, err := s.Append(ctx, names[i], eventstore.NoStream, eventstore.Event{ID: names[i] + "-opened", Type: "Opened", Data: []byte("open:" + strconv.Itoa(initial))}); err != nil {
			t.Fatal(err)
		}
	}

	type attempt struct {
		from, to string
		outcome  logcheck.Outcome
		vf, vt   int64
		done     bool
	}
	var (
		mu       sync.Mutex
		attempts = map[string]*attempt{}
		problems []string
		wg       sync.WaitGroup
	)
	cmds := make([]*exec.Cmd, children)
	ready := make(chan struct{}, children)
	for k := range children {
		cfg, _ := json.Marshal(transferChild{Brokers: c.Brokers, Topic: topic, Accounts: names, Workers: workers, Duration: dur, Name: fmt.Sprintf("p%d", k)})
		cmd := exec.Command(os.Args[0], "-test.run=^TestTransferChildProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), transferChildEnv+"="+string(cfg))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start transfer writer: %v", err)
		}
		cmds[k] = cmd
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		wg.Go(func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				line, ok := strings.CutPrefix(sc.Text(), transferLine)
				if !ok {
					continue
				}
				f := strings.Fields(line)
				mu.Lock()
				switch {
				case f[0] == "READY" && k == 0:
					ready <- struct{}{}
				case f[0] == "TRY" && len(f) == 5:
					attempts[f[1]] = &attempt{from: f[2], to: f[3], outcome: logcheck.Unknown}
				case f[0] == "ACK" && len(f) == 4:
					a := attempts[f[1]]
					a.outcome, a.done = logcheck.Acked, true
					a.vf, _ = strconv.ParseInt(f[2], 10, 64)
					a.vt, _ = strconv.ParseInt(f[3], 10, 64)
				case f[0] == "FAIL":
					a := attempts[f[1]]
					a.outcome, a.done = logcheck.Failed, true
					// A conflict, or a store that was unavailable for a
					// while (the killed writer's open transaction holds
					// its streams until the broker aborts it): nothing
					// was written either way. Anything else is a bug.
					if !strings.Contains(line, "concurrency conflict") && !strings.Contains(line, "temporarily unavailable") {
						problems = append(problems, "a transfer failed with neither a conflict nor an unavailable store: "+line)
					}
				case f[0] == "UNKNOWN":
					attempts[f[1]].done = true
				case f[0] == "ERROR":
					problems = append(problems, "writer process: "+line)
				}
				mu.Unlock()
			}
		})
	}
	// Kill the first writer halfway through its run, mid-transfer most
	// likely.
	select {
	case <-ready:
		time.Sleep(dur / 2)
	case <-time.After(time.Minute):
		t.Error("the first writer process did not get ready within a minute")
	}
	_ = cmds[0].Process.Kill()
	for _, cmd := range cmds {
		_ = cmd.Wait()
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}

	var j logcheck.Journal
	acked, failed, unknown := 0, 0, 0
	for id, a := range attempts {
		j.Add(logcheck.Append{Writer: id, Stream: a.from, IDs: []string{id + "-debit"}, Outcome: a.outcome, Version: a.vf})
		j.Add(logcheck.Append{Writer: id, Stream: a.to, IDs: []string{id + "-credit"}, Outcome: a.outcome, Version: a.vt})
		switch a.outcome {
		case logcheck.Acked:
			acked++
		case logcheck.Failed:
			failed++
		default:
			unknown++
		}
	}
	t.Logf("%v: %d transfers acknowledged, %d failed on conflicts, %d unknown (the killed writer's)", dur, acked, failed, unknown)
	if acked < children || failed == 0 {
		t.Fatalf("%d transfers acknowledged and %d conflicts in %v: the test proves nothing", acked, failed, dur)
	}

	log, err := logcheck.ReadCommitted(ctx, c.Brokers, c.Config(), topic)
	if err != nil {
		t.Fatal(err)
	}
	r := logcheck.Check(log, partitions, j.Appends())
	for _, p := range r.Problems {
		t.Error(p)
	}
	total, halves := 0, map[string]int{}
	for _, ev := range log {
		id, amount, ok := strings.Cut(string(ev.Data), ":")
		v, err := strconv.Atoi(amount)
		if !ok || err != nil {
			t.Fatalf("event %s of %s holds %q", ev.ID, ev.StreamID, ev.Data)
		}
		total += v
		if id != "open" {
			halves[id]++
		}
	}
	if want := accounts * initial; total != want {
		t.Errorf("money is not conserved: the accounts hold %d in total, %d were opened", total, want)
	}
	for id, n := range halves {
		a := attempts[id]
		switch {
		case a == nil:
			t.Errorf("transfer %s is in the log but no writer tried it", id)
		case n != 2:
			t.Errorf("transfer %s (%s) is in the log with %d of its 2 halves: not atomic", id, a.outcome, n)
		case a.outcome == logcheck.Failed:
			t.Errorf("transfer %s failed but is in the log", id)
		}
	}
	for id, a := range attempts {
		if a.outcome == logcheck.Acked && halves[id] != 2 {
			t.Errorf("acknowledged transfer %s is not in the log", id)
		}
	}
}
