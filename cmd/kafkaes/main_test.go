package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestMain lets the test binary act as the kafkaes command when
// KAFKAES_TEST_MAIN=1, so tests can run it as a process and send it signals.
func TestMain(m *testing.M) {
	if os.Getenv("KAFKAES_TEST_MAIN") == "1" {
		os.Args = append([]string{"kafkaes"}, strings.Fields(os.Getenv("KAFKAES_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// kafkaesProcess returns the test binary set up to run kafkaes with args.
func kafkaesProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{"KAFKAES_TEST_MAIN=1", "KAFKAES_TEST_ARGS=" + strings.Join(args, " "), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	return cmd
}

// TestProcessExitCodesAndCtrlC runs kafkaes as a process: the exit status
// reaches the shell, and tail stops cleanly on SIGINT (Ctrl-C).
func TestProcessExitCodesAndCtrlC(t *testing.T) {
	c := kafkatest.New(t)
	topic := kafkatest.TopicName(t, "events")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	newProducer(t, c, "").send(topic, 1, streamEvents("acc-1", 2)...)

	cmd := kafkaesProcess(t, "topics")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage {
		t.Fatalf("topics without brokers: want exit status %d, got %v", exitUsage, err)
	}

	var out, errOut syncBuffer
	cmd = kafkaesProcess(t, "tail", "--from-beginning", brokers(c), "--topic", topic)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for len(lines(out.String())) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail after Ctrl-C: %v\nstderr:\n%s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("tail did not stop on SIGINT")
	}
	if n := len(lines(out.String())); n != 2 {
		t.Fatalf("tail printed %d lines, want 2:\n%s", n, out.String())
	}
}
