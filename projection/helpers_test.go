package projection_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/serde"
)

type Opened struct {
	Owner string `json:"owner"`
}

type Deposited struct {
	Amount int64 `json:"amount"`
}

type Closed struct{}

func testSerde(t testing.TB) *serde.JSON {
	t.Helper()
	reg := serde.NewRegistry()
	serde.MustRegister[Opened](reg, "test.Opened")
	serde.MustRegister[Deposited](reg, "test.Deposited")
	serde.MustRegister[Closed](reg, "test.Closed")
	return serde.NewJSON(reg)
}

func appendRaw(t testing.TB, st eventstore.Store, stream, typ string, v any) eventstore.AppendResult {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Append(context.Background(), stream, eventstore.Any, eventstore.Event{Type: typ, Data: data,
		Metadata: eventstore.Metadata{CorrelationID: "corr-" + stream, Values: map[string]string{"k": "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func deposit(t testing.TB, st eventstore.Store, stream string, amount int64) eventstore.AppendResult {
	return appendRaw(t, st, stream, "test.Deposited", Deposited{Amount: amount})
}

// seen records handled events as "stream/version".
type seen struct {
	mu  sync.Mutex
	evs []string
}

func (s *seen) add(m string) {
	s.mu.Lock()
	s.evs = append(s.evs, m)
	s.mu.Unlock()
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.evs...)
}

func newMem() *memory.Store { return memory.New() }

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
