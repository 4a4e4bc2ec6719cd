package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// indexSaveChildEnv holds the JSON configuration of an index-saving writer
// process (TestIndexSaveChild).
const indexSaveChildEnv = "KAFKAES_INDEXSAVE_CHILD"

type indexSaveChild struct {
	Brokers    []string
	Topic, Dir string
	Disk       bool // WithDiskIndex
}

// TestIndexSaveChild is not a test: it is the process that
// TestIndexSaveKilled starts and SIGKILLs. It appends without pause while
// saving its index every millisecond, so that a kill lands in a save.
func TestIndexSaveChild(t *testing.T) {
	raw := os.Getenv(indexSaveChildEnv)
	if raw == "" {
		t.Skip("helper process of TestIndexSaveKilled; runs only when it re-executes the test binary")
	}
	var cfg indexSaveChild
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Println("CHILD ERROR", err)
		os.Exit(2)
	}
	client, err := sarama.NewClient(cfg.Brokers, (&kafkatest.Cluster{Brokers: cfg.Brokers}).Config())
	if err != nil {
		fmt.Println("CHILD ERROR", err)
		os.Exit(2)
	}
	ctx := context.Background()
	s, err := New(ctx, client, cfg.Topic, withIndex(cfg.Dir, cfg.Disk), WithTransactionTimeout(2*time.Second),
		func(o *options) { o.indexSaveEvery = time.Millisecond })
	if err != nil {
		fmt.Println("CHILD ERROR", err)
		os.Exit(2)
	}
	fmt.Println("CHILD READY")
	rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
	for i := 0; ; i++ {
		evs := make([]eventstore.Event, 1+rng.IntN(3))
		for k := range evs {
			evs[k] = ev("T", i*10+k)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", rng.IntN(50)), eventstore.Any, evs...); err != nil {
			fmt.Println("CHILD ERROR", err)
			os.Exit(2)
		}
	}
}

// TestIndexSaveKilled SIGKILLs, five times over, a process that appends
// and saves its index (WithIndexDir) every millisecond, then starts a
// store on the same directory: the saved index is never damaged (a save
// writes a temporary file and renames it), it is the index of a store
// that built from the log, and the temporary files the kills left behind
// are removed once they are old.
//
// With the disk index (WithDiskIndex), a kill lands anywhere in its
// flushes and saves: the database it leaves must be the index of a prefix
// of the log that the catch-up completes, so the index after the start
// equals one built from the topic.
func TestIndexSaveKilled(t *testing.T) { forIndexVariants(t, testIndexSaveKilled) }

func testIndexSaveKilled(t *testing.T, disk bool) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 3, kafkatest.EventsTopicConfig())
	dir := t.TempDir()
	cfg, _ := json.Marshal(indexSaveChild{Brokers: c.Brokers, Topic: topic, Dir: dir, Disk: disk})
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIndexSaveChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), indexSaveChildEnv+"="+string(cfg))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		ready := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "CHILD ") {
					select {
					case ready <- sc.Text():
					default:
					}
				}
			}
		}()
		select {
		case line := <-ready:
			require.Equal(t, "CHILD READY", line, "round %d", round)
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("round %d: the writer process did not start", round)
		}
		time.Sleep(time.Duration(100+rand.IntN(500)) * time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
	}
	_, err := os.Stat(savedIndexPath(topic, dir, disk))
	require.NoError(t, err)
	temps, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	t.Logf("%d temporary files left by the kills", len(temps))
	old := time.Now().Add(-time.Hour)
	for _, f := range temps {
		require.NoError(t, os.Chtimes(f, old, old))
	}

	probe := openStore(t, c, topic)
	waitSettled(t, probe) // the last writer's open transaction is aborted
	var logs bytes.Buffer
	s := openStore(t, c, topic, withIndex(dir, disk), WithLogger(logTo(&logs)))
	require.NotContains(t, logs.String(), "damaged", "a save interrupted by a kill must never leave a damaged index")
	require.NotContains(t, logs.String(), "not an index file")
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	require.Empty(t, left, "the leftovers of interrupted saves are removed")
	requireSameIndex(t, openStore(t, c, topic), s)
}
