package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/serde/pii"
	"github.com/kafkaes/kafkaes/serde/pii/kafkakeys"
)

// runErase erases a data subject's key from the key topic (a tombstone,
// written in a transaction). Without --yes it only says what it would do.
func runErase(ctx context.Context, e *env, args []string) int {
	subject := args[0]
	if subject == "" {
		return usageError(e, errors.New("erase needs the data subject's ID"), "erase")
	}
	keyTopic := e.opts.keyTopic
	if keyTopic == "" {
		keyTopic = kafkakeys.DefaultTopic(e.topic)
	}
	cl := e.connect()
	if cl == nil {
		return exitFailure
	}
	defer cl.Close()
	ks, err := kafkakeys.New(ctx, cl, keyTopic, kafkakeys.WithoutTopicCreation(), kafkakeys.WithRefreshInterval(0),
		kafkakeys.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	defer ks.Close()
	k, err := ks.Get(ctx, subject, 0)
	had := err == nil
	if err != nil && !errors.Is(err, pii.ErrKeyNotFound) {
		e.errorf("look up the key of subject %q: %v", subject, err)
		return exitFailure
	}
	what := fmt.Sprintf("subject %q has no key in %s (never created, or already erased)", subject, keyTopic)
	if had {
		what = fmt.Sprintf("subject %q has key %016x in %s", subject, k.ID, keyTopic)
	}
	if !e.opts.yes {
		fmt.Fprintf(e.stdout, "%s; run again with --yes to erase it (a tombstone: every field encrypted for the subject becomes unreadable for good)\n", what)
		return exitOK
	}
	if err := ks.Erase(ctx, subject); err != nil {
		e.errorf("%v", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "erased: %s; a tombstone was written, compaction deletes the key. "+
		"Projections scrub their copies when they see a %s notice: the service's erasure.Eraser appends one; this command does not (it does not know the service's serde).\n",
		what, pii.SubjectErasedName)
	return exitOK
}

// useKeys makes reg decrypt personal-data fields with the keys of
// --key-topic (stream, tail). It returns a function that closes the key
// store, or ok false after printing why it cannot.
func useKeys(ctx context.Context, e *env, cl sarama.Client, reg *registry) (closeKeys func(), ok bool) {
	if e.opts.keyTopic == "" {
		return func() {}, true
	}
	if reg == nil {
		e.errorf("--key-topic needs --schema-registry: the Avro schemas say which fields hold personal data")
		return nil, false
	}
	ks, err := kafkakeys.New(ctx, cl, e.opts.keyTopic, kafkakeys.WithoutTopicCreation(),
		kafkakeys.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		e.errorf("%v", err)
		return nil, false
	}
	reg.decrypt, reg.ctx = pii.NewEncryptor(ks), ctx
	return func() { _ = ks.Close() }, true
}
