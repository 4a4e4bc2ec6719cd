package clusterfault_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// Environment of a writer process (the test binary re-executed by
// TestClusterFaults).
const (
	envWriter  = "KAFKAES_CLUSTERFAULT_WRITER" // writer name; set only in writer processes
	envBrokers = "KAFKAES_CLUSTERFAULT_BROKERS"
	envTopic   = "KAFKAES_CLUSTERFAULT_TOPIC"
	envStreams = "KAFKAES_CLUSTERFAULT_STREAMS" // number of streams
	envJournal = "KAFKAES_CLUSTERFAULT_JOURNAL"
	envPrefix  = "KAFKAES_CLUSTERFAULT_PREFIX" // transactional ID prefix
	envWorkers = "KAFKAES_CLUSTERFAULT_WORKERS"
	// envProducers, when set, is the writer's WithConcurrentTransactions.
	envProducers = "KAFKAES_CLUSTERFAULT_PRODUCERS"
)

// maxUnknownRetries bounds the retries of one append whose outcome stays
// unknown; the chain then ends unknown.
const maxUnknownRetries = 30

// readTimeout bounds a writer's ReadStream call.
const readTimeout = 30 * time.Second

func streamName(i int) string { return fmt.Sprintf("cf-%02d", i) }

// TestClusterFaultWriter is not a test: it is a writer process of
// TestClusterFaults, which starts the test binary with KAFKAES_CLUSTERFAULT_WRITER
// set. It opens its own store and appends to random streams with an
// expected version (read the stream, append at its version; on a conflict
// read again; on an unknown outcome retry the same events at the same
// expected version until the answer is known), journaling every call and
// its result. SIGTERM makes it finish its appends, close the store and exit.
func TestClusterFaultWriter(t *testing.T) {
	name := os.Getenv(envWriter)
	if name == "" {
		t.Skip("writer process of TestClusterFaults; runs only when it re-executes the test binary")
	}
	brokers := strings.Split(os.Getenv(envBrokers), ",")
	topic := os.Getenv(envTopic)
	nstreams, _ := strconv.Atoi(os.Getenv(envStreams))
	workers, _ := strconv.Atoi(os.Getenv(envWorkers))
	j, err := openJournal(os.Getenv(envJournal))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	cfg := (&kafkatest.Cluster{Brokers: brokers}).Config()
	cfg.ClientID = "clusterfault-" + name
	// SIGUSR1 arms a SIGKILL of this process at its next EndTxn request:
	// it then dies with a transaction open, its records produced and
	// neither committed nor aborted (see killConn).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		dieAtEndTxn.Store(true)
	}()
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = killDialer{&net.Dialer{Timeout: cfg.Net.DialTimeout, KeepAlive: cfg.Net.KeepAlive}}
	var client sarama.Client
	for {
		client, err = sarama.NewClient(brokers, cfg)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("connect: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var s *kafka.Store
	for {
		octx, cancel := context.WithTimeout(ctx, time.Minute)
		opts := []kafka.Option{kafka.WithTransactionalIDPrefix(os.Getenv(envPrefix))}
		if n, err := strconv.Atoi(os.Getenv(envProducers)); err == nil {
			opts = append(opts, kafka.WithConcurrentTransactions(n))
		}
		s, err = kafka.New(octx, client, topic, opts...)
		cancel()
		if err == nil {
			break
		}
		fmt.Fprintf(os.Stderr, "writer %s: open store: %v (retrying)\n", name, err)
		if ctx.Err() != nil {
			t.Fatalf("open store: %v", err)
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(os.Stdout, "WRITER %s READY\n", name)

	var seq atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for ctx.Err() == nil {
				if rnd.IntN(4) == 0 {
					// A quarter of the operations are multi-stream appends
					// (a transfer between two streams on different
					// partitions): all or nothing across partitions.
					appendMulti(s, j, name, rnd, nstreams, &seq)
					continue
				}
				stream := streamName(rnd.IntN(nstreams))
				v, ok := readVersion(s, j, name, stream)
				if !ok {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				evs, ids := newEvents(name, 1+rnd.IntN(3))
				chain := fmt.Sprintf("%s-%d", name, seq.Add(1))
				for attempt := 0; ; attempt++ {
					a := fmt.Sprintf("%s.%d", chain, attempt)
					t0 := unixNow()
					j.add(rec{K: kindTry, W: name, A: a, C: chain, S: stream, IDs: ids, Exp: v, T0: t0})
					// Not ctx: a SIGTERM lets the append finish.
					res, err := s.Append(context.Background(), stream, eventstore.Exact(v), evs...)
					r := rec{K: kindRes, W: name, A: a, C: chain, S: stream, Exp: v, T0: t0, T1: unixNow(), Class: classify(err), V: res.Version}
					r.Pos = positions(res.Positions)
					if err != nil {
						r.Err = err.Error()
					}
					j.add(r)
					if !settled(r.Class, attempt) {
						continue
					}
					break
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "writer %s: close store: %v\n", name, err)
	}
	_ = client.Close()
	fmt.Fprintf(os.Stdout, "WRITER %s DONE\n", name)
}

// newEvents returns n new events of writer name and their IDs.
func newEvents(name string, n int) ([]eventstore.Event, []string) {
	evs := make([]eventstore.Event, n)
	ids := make([]string, n)
	for i := range evs {
		ids[i] = eventstore.NewEventID()
		evs[i] = eventstore.Event{ID: ids[i], Type: "clusterfault.Appended", Data: []byte(`{"w":"` + name + `"}`)}
	}
	return evs, ids
}

// settled reports whether an append chain ends after an attempt of class
// class (the attempt-th): an unknown outcome is retried with the same
// events (up to maxUnknownRetries times, after a pause); any other answer
// ends the chain, after a pause unless it was a success or a conflict.
func settled(class string, attempt int) bool {
	if class == classUnknown && attempt < maxUnknownRetries {
		time.Sleep(200 * time.Millisecond)
		return false
	}
	if class != classNil && class != classConflict {
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// appendMulti makes one multi-stream append chain: two streams on
// different partitions, each read for its version, then AppendMulti of 1-2
// events to each at those versions, retried with the same events while the
// outcome is unknown, every attempt journaled (the first stream in the
// record's own fields, the second in More).
func appendMulti(s *kafka.Store, j *journal, name string, rnd *rand.Rand, nstreams int, seq *atomic.Int64) {
	a := rnd.IntN(nstreams)
	b := a
	for b == a || partitionOf(streamName(b)) == partitionOf(streamName(a)) {
		b = rnd.IntN(nstreams)
	}
	sa, sb := streamName(a), streamName(b)
	va, ok := readVersion(s, j, name, sa)
	if !ok {
		time.Sleep(100 * time.Millisecond)
		return
	}
	vb, ok := readVersion(s, j, name, sb)
	if !ok {
		time.Sleep(100 * time.Millisecond)
		return
	}
	evA, idsA := newEvents(name, 1+rnd.IntN(2))
	evB, idsB := newEvents(name, 1+rnd.IntN(2))
	chain := fmt.Sprintf("%s-%d", name, seq.Add(1))
	for attempt := 0; ; attempt++ {
		at := fmt.Sprintf("%s.%d", chain, attempt)
		t0 := unixNow()
		j.add(rec{K: kindTry, W: name, A: at, C: chain, S: sa, IDs: idsA, Exp: va, T0: t0,
			More: []entry{{S: sb, IDs: idsB, Exp: vb}}})
		res, err := s.AppendMulti(context.Background(),
			eventstore.StreamAppend{StreamID: sa, Expected: eventstore.Exact(va), Events: evA},
			eventstore.StreamAppend{StreamID: sb, Expected: eventstore.Exact(vb), Events: evB})
		r := rec{K: kindRes, W: name, A: at, C: chain, S: sa, Exp: va, T0: t0, T1: unixNow(), Class: classify(err),
			More: []entry{{S: sb, Exp: vb}}}
		if err == nil && len(res) == 2 {
			r.V, r.Pos = res[0].Version, positions(res[0].Positions)
			r.More[0].V, r.More[0].Pos = res[1].Version, positions(res[1].Positions)
		} else if err == nil {
			err = fmt.Errorf("AppendMulti of 2 entries returned %d results", len(res))
			r.Class = classOther
		}
		if err != nil {
			r.Err = err.Error()
		}
		j.add(r)
		if settled(r.Class, attempt) {
			return
		}
	}
}

func positions(ps []eventstore.Position) [][2]int64 {
	var out [][2]int64
	for _, p := range ps {
		out = append(out, [2]int64{int64(p.Partition), p.Offset})
	}
	return out
}

// dieAtEndTxn, once set (by SIGUSR1), makes the writer process SIGKILL
// itself when it is about to send an EndTxn request.
var dieAtEndTxn atomic.Bool

// producedSinceArmed is set by a Produce request after dieAtEndTxn and
// cleared by an EndTxn. The writer that gets killed runs one transactional
// producer (envProducers), so its Produce and EndTxn requests belong to the
// same transaction.
var producedSinceArmed atomic.Bool

// Kafka API keys of Produce and EndTxn.
const (
	apiKeyProduce = 0
	apiKeyEndTxn  = 26
)

// killDialer dials connections that watch the requests written on them.
type killDialer struct{ d *net.Dialer }

func (k killDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := k.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return killConn{c}, nil
}

// killConn SIGKILLs the process instead of writing an EndTxn request when
// dieAtEndTxn is set. sarama writes every request (4-byte size, then the
// header starting with the 2-byte API key) in one Write call.
type killConn struct{ net.Conn }

func (c killConn) Write(b []byte) (int, error) {
	if dieAtEndTxn.Load() && len(b) >= 6 {
		switch binary.BigEndian.Uint16(b[4:6]) {
		case apiKeyProduce:
			producedSinceArmed.Store(true)
		case apiKeyEndTxn:
			// Only after records were produced since the last EndTxn: an
			// empty transaction (the store's settle step) would leave
			// nothing open.
			if producedSinceArmed.Swap(false) {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	return c.Conn.Write(b)
}

// readVersion reads stream through the store, journals the result and
// returns the stream's last version.
func readVersion(s *kafka.Store, j *journal, name, stream string) (int64, bool) {
	r := rec{K: kindRead, W: name, S: stream, T0: unixNow()}
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	for ev, e := range s.ReadStream(ctx, stream, 1) {
		if e != nil {
			err = e
			break
		}
		if ev.Version != r.V+1 && err == nil {
			err = fmt.Errorf("ReadStream yielded version %d after %d", ev.Version, r.V)
		}
		r.V = ev.Version
		r.N++
	}
	r.T1 = unixNow()
	r.Class = classify(err)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		err = nil
		r.V, r.N = 0, 0
	}
	if err != nil {
		r.Err = err.Error()
	}
	j.add(r)
	return r.V, err == nil
}
