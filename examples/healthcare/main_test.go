package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestScenario runs the example end to end, as `go run
// ./examples/healthcare` does, and checks the story it tells.
func TestScenario(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, config{topic: "healthcare-events"}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range wantLines("") {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// wantLines are lines the scenario must print, for patient IDs with suffix.
func wantLines(suffix string) []string {
	return []string{
		fmt.Sprintf("erasing patient pat-alan%s (Alan Turing): the patient's key is deleted", suffix),
		fmt.Sprintf(`pat-alan%s: name="[redacted]" born="" ward=neurology procedures=examination notes=[""] discharged=true version=3 redacted=[Name DateOfBirth Notes Summary]`, suffix),
		fmt.Sprintf(`pat-ada%s: name="Ada Lovelace" born="1815-12-10" ward=cardiology`, suffix),
		fmt.Sprintf("%-14s %-16s %-10s %d treatments  %s", "pat-alan"+suffix, "[redacted]", "neurology", 1, "discharged"),
		fmt.Sprintf("%-14s %-16s %-10s %d treatments  %s", "pat-grace"+suffix, "Grace Hopper", "cardiology", 1, "admitted"),
	}
}

// TestNoPlaintextInKafka runs the scenario against the Kafka of kafkatest
// (a real broker when KAFKAES_BROKERS is set, as in CI; else the embedded
// one) and then reads every record of every topic the example wrote, raw
// (read_uncommitted: aborted records too), with a plain sarama consumer:
// no record may hold any patient's name, date of birth or notes in
// plaintext, in its key, value or headers; the personal fields are
// encrypted with per-patient keys, and the erased patient's key is gone.
func TestNoPlaintextInKafka(t *testing.T) {
	c := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topic := kafkatest.TopicName(t, "healthcare")
	var out bytes.Buffer
	if err := run(ctx, &out, config{brokers: strings.Join(c.Brokers, ","), topic: topic}); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	needles := []string{"Ada Lovelace", "1815-12-10", "Alan Turing", "1912-06-23", "Grace Hopper", "1906-12-09", "chest pain", "follow-up in two weeks"}
	client := c.Client(t)
	topics, err := client.Topics()
	if err != nil {
		t.Fatal(err)
	}
	var scanned []string
	records := 0
	for _, tp := range topics {
		if !strings.HasPrefix(tp, topic) {
			continue
		}
		scanned = append(scanned, tp)
		n, found := scanTopic(t, client, tp, needles)
		records += n
		for _, f := range found {
			t.Errorf("plaintext personal data in Kafka: %s", f)
		}
	}
	if len(scanned) < 2 || records == 0 {
		t.Fatalf("scanned topics %v (%d records): want the events topic and the key topic", scanned, records)
	}
	// The scan must be able to see plaintext: the wards are not personal
	// data and are stored as they are.
	if _, found := scanTopic(t, client, topic, []string{"neurology"}); len(found) == 0 {
		t.Fatalf("the scan did not find the plaintext ward %q in %s: it would not find leaked names either", "neurology", topic)
	}
	t.Logf("no plaintext personal data in %d records of %v", records, scanned)
}

// scanTopic reads every record of every partition of topic up to its high
// watermark and returns the records whose key, value or headers contain a
// needle.
func scanTopic(t *testing.T, client sarama.Client, topic string, needles []string) (int, []string) {
	t.Helper()
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var found []string
	for _, p := range parts {
		hw, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		first, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		if hw <= first {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, first)
		if err != nil {
			t.Fatal(err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				n++
				parts := [][]byte{m.Key, m.Value}
				for _, h := range m.Headers {
					parts = append(parts, h.Key, h.Value)
				}
				for _, b := range parts {
					for _, nd := range needles {
						if bytes.Contains(b, []byte(nd)) {
							found = append(found, fmt.Sprintf("%q at %s/%d offset %d", nd, topic, p, m.Offset))
						}
					}
				}
				// Transaction markers take offsets but are not delivered:
				// the last data record may sit below hw-1.
				done = m.Offset >= hw-1
			case <-time.After(time.Second):
				done = true // the rest up to hw are markers
			}
		}
		pc.Close()
	}
	return n, found
}
