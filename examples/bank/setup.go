package main

import (
	"context"
	"fmt"
	"io"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/memory"
	"github.com/kafkaes/kafkaes/examples/bank/account"
	"github.com/kafkaes/kafkaes/serde"
)

// config holds the command-line settings.
type config struct {
	brokers        string
	schemaRegistry string
	topic          string
}

// env is what the scenario runs on.
type env struct {
	store eventstore.Store
	serde serde.Serde
	close func()
}

func setup(_ context.Context, w io.Writer, _ config) (*env, error) {
	reg := serde.NewRegistry()
	if err := account.Register(reg); err != nil {
		return nil, err
	}
	st := memory.New()
	fmt.Fprintln(w, "store: in-memory; serde: JSON")
	return &env{store: st, serde: serde.NewJSON(reg), close: func() { _ = st.Close() }}, nil
}
