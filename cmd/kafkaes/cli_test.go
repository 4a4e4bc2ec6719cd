package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

func TestNoBrokersExplainsHowToConnect(t *testing.T) {
	for _, cmd := range [][]string{{"topics"}, {"verify"}, {"stream", "acc-1"}, {"tail"}, {"projection", "status", "--group", "g"}} {
		r := kafkaes(t, cmd...)
		if r.code == exitOK {
			t.Errorf("%v without brokers succeeded:\n%s", cmd, r)
		}
		for _, want := range []string{"no Kafka cluster given", "--brokers", "KAFKAES_BROKERS"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v without brokers: stderr does not mention %q:\n%s", cmd, want, r)
			}
		}
	}
}

func TestEnvironmentFallbacks(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	newProducer(t, c, "").send(topic, 1, streamEvents("acc-1", 2)...)
	env := map[string]string{"KAFKAES_BROKERS": strings.Join(c.Brokers, ","), "KAFKAES_TOPIC": topic}
	var out, errOut bytes.Buffer
	code := runEnv(context.Background(), []string{"verify"}, &out, &errOut, func(k string) string { return env[k] })
	if code != exitOK || !strings.Contains(out.String(), topic) || !strings.Contains(out.String(), "2 events of 1 stream") {
		t.Fatalf("verify with KAFKAES_BROKERS and KAFKAES_TOPIC: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	// Flags win over the environment.
	env["KAFKAES_TOPIC"] = "no-such-topic-here"
	out.Reset()
	errOut.Reset()
	code = runEnv(context.Background(), []string{"verify", "--topic", topic}, &out, &errOut, func(k string) string { return env[k] })
	if code != exitOK {
		t.Fatalf("--topic did not override KAFKAES_TOPIC: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
}

func TestUsage(t *testing.T) {
	r := kafkaes(t)
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "Commands:") || !strings.Contains(r.stderr, "verify") {
		t.Errorf("no arguments: want usage on stderr and exit %d (bad command line)\n%s", exitUsage, r)
	}
	r = kafkaes(t, "help")
	if r.code != exitOK || !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("help: want usage\n%s", r)
	}
	r = kafkaes(t, "--help")
	if r.code != exitOK || !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("--help: want usage\n%s", r)
	}
	r = kafkaes(t, "help", "verify")
	if r.code != exitOK || !strings.Contains(r.stdout, "-max-violations") {
		t.Errorf("help verify:\n%s", r)
	}
	r = kafkaes(t, "stream", "-h")
	if r.code != exitOK || !strings.Contains(r.stdout, "Usage: kafkaes stream <stream-id>") {
		t.Errorf("stream -h:\n%s", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--brokers=127.0.0.1:1", "stream"}, "stream takes <stream-id>, got 0"},
		{[]string{"--brokers=127.0.0.1:1", "topics", "extra"}, `topics takes no argument or hanging, not "extra"`},
		{[]string{"verify", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"--brokers=127.0.0.1:1", "projection", "status"}, "needs --group"},
		{[]string{"--brokers=127.0.0.1:1", "projection", "explode", "--group", "g"}, "status or rebuild"},
		{[]string{"schema", "validate", "x.avsc"}, "schema takes check"},
		{[]string{"schema", "check", "x.avsc"}, "--schema-registry"},
	} {
		r := kafkaes(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: want exit %d and %q on stderr\n%s", tc.args, exitUsage, tc.want, r)
		}
	}
}

func TestFlagsAnywhere(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	newProducer(t, c, "").send(topic, 2, streamEvents("acc-1", 2)...)
	for _, args := range [][]string{
		{brokers(c), "--topic", topic, "stream", "acc-1"},
		{"stream", "acc-1", brokers(c), "--topic", topic},
		{"stream", brokers(c), "acc-1", "--topic=" + topic},
		{brokers(c), "stream", "--topic", topic, "--", "acc-1"},
	} {
		r := kafkaes(t, args...)
		if r.code != exitOK || len(lines(r.stdout)) != 2 {
			t.Errorf("%v:\n%s", args, r)
		}
	}
}

func TestBadConnectionFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "10ms"}, "--timeout 10ms is too short"},
		{[]string{"--kafka-version", "0.10.2.0"}, "too old"},
		{[]string{"--kafka-version", "banana"}, "--kafka-version"},
		{[]string{"--sasl-user", "ada"}, "KAFKAES_SASL_PASSWORD is empty"},
		{[]string{"--tls-ca", "/no/such/ca.pem"}, "--tls-ca"},
	} {
		r := kafkaes(t, append([]string{"verify", "--brokers", "127.0.0.1:1"}, tc.args...)...)
		if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: want exit %d and %q\n%s", tc.args, exitFailure, tc.want, r)
		}
	}
}

func TestUnreachableCluster(t *testing.T) {
	r := kafkaes(t, "--brokers", "127.0.0.1:1", "--timeout", "2s", "verify")
	if r.code != exitFailure || !strings.Contains(r.stderr, "cannot reach the Kafka cluster at 127.0.0.1:1") {
		t.Fatalf("unreachable cluster:\n%s", r)
	}
}
