package avro_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
	"github.com/kafkaes/kafkaes/serde/avro/avrotest"
)

type ObsEvent struct {
	Ref string
	N   int64
}

type serdeRecorder struct {
	observe.Base
	mu       sync.Mutex
	ops      []observe.Serde
	registry []observe.RegistryCall
	cache    map[string]int // cache/hit|miss -> count
}

func (r *serdeRecorder) ObserveSerde(_ context.Context, s observe.Serde) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, s)
}

func (r *serdeRecorder) ObserveRegistry(_ context.Context, c observe.RegistryCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.registry = append(r.registry, c)
}

func (r *serdeRecorder) ObserveCache(_ context.Context, c observe.CacheLookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := c.Cache + "/miss"
	if c.Hit {
		k = c.Cache + "/hit"
	}
	r.cache[k]++
}

// TestObserver: encodes, decodes (a failing one too), registry calls and
// cache look-ups are reported.
func TestObserver(t *testing.T) {
	ctx := context.Background()
	reg := serde.NewRegistry()
	serde.MustRegister[ObsEvent](reg, "test.ObsEvent")
	client, _ := avrotest.Registry(t)
	rec := &serdeRecorder{cache: map[string]int{}}
	topic := fmt.Sprintf("observe-%x", rand.Uint32())
	s, err := avro.New(ctx, reg, client, topic, avro.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for i := range 2 {
		var name string
		if name, data, err = s.Marshal(ctx, ObsEvent{Ref: "r", N: int64(i)}); err != nil || name != "test.ObsEvent" {
			t.Fatalf("marshal: %q, %v", name, err)
		}
	}
	for range 2 {
		if _, err := s.Unmarshal(ctx, "test.ObsEvent", data); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Unmarshal(ctx, "test.ObsEvent", []byte{1, 2}); err == nil {
		t.Fatal("decoding garbage succeeded")
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	var enc, dec, decErr int
	for _, o := range rec.ops {
		switch {
		case o.Serde != "avro" || o.Type != "test.ObsEvent":
			t.Errorf("report %+v", o)
		case o.Op == observe.Encode && o.Err == nil && o.Bytes == len(data):
			enc++
		case o.Op == observe.Decode && o.Err == nil:
			dec++
		case o.Op == observe.Decode && o.Err != nil:
			decErr++
		}
	}
	if enc != 2 || dec != 2 || decErr != 1 {
		t.Errorf("encodes %d, decodes %d, decode errors %d; want 2, 2, 1 (%+v)", enc, dec, decErr, rec.ops)
	}
	ops := map[string]int{}
	for _, c := range rec.registry {
		ops[c.Op]++
		if c.Op == "register" && (c.Err != nil || c.Subject != topic+"-test.ObsEvent") {
			t.Errorf("register call %+v", c)
		}
		if c.Err != nil && !c.NotFound {
			t.Errorf("registry call failed: %+v", c)
		}
	}
	if ops["register"] != 1 {
		t.Errorf("registry calls %v: want one register", ops)
	}
	if rec.cache["writer/miss"] != 1 || rec.cache["writer/hit"] != 1 || rec.cache["decoder/miss"] != 1 || rec.cache["decoder/hit"] != 1 {
		t.Errorf("cache look-ups %v: want one miss then one hit for writer and decoder", rec.cache)
	}
}

// An observer that would miss reports is refused by New.
func TestObserverChecked(t *testing.T) {
	reg := serde.NewRegistry()
	serde.MustRegister[ObsEvent](reg, "test.ObsEvent")
	client, _ := avrotest.Registry(t)
	_, err := avro.New(t.Context(), reg, client, "observe-checked", avro.WithObserver(observe.Base{}))
	if !errors.Is(err, observe.ErrObserver) {
		t.Fatalf("New with an observer of no report: %v", err)
	}
}
