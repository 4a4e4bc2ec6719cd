package kafkaauth

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestWrap(t *testing.T) {
	cfg := sarama.NewConfig()
	cfg.Net.SASL.Enable, cfg.Net.SASL.User, cfg.Net.SASL.Mechanism = true, "orders", sarama.SASLTypeSCRAMSHA512
	err := Wrap(fmt.Errorf("init: %w", sarama.ErrTransactionalIDAuthorizationFailed), cfg, "kafka: start", "Write", TransactionalID, "orders.kafkaes-", true)
	var ae *Error
	if !errors.As(err, &ae) || !errors.Is(err, ErrNotAuthorized) || !errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed) {
		t.Fatalf("not a matchable *Error: %v", err)
	}
	want := "kafka: start: not authorized to Write PREFIXED transactional-id \"orders.kafkaes-\""
	cmd := "--add --allow-principal User:orders --operation Write --transactional-id 'orders.kafkaes-' --resource-pattern-type prefixed"
	if msg := err.Error(); !strings.HasPrefix(msg, want) || !strings.HasSuffix(msg, cmd) {
		t.Errorf("message:\n%s\nwant prefix %q and suffix %q", msg, want, cmd)
	}
	if err := Wrap(sarama.ErrTopicAuthorizationFailed, nil, "", "Read", Topic, "events", false); !strings.Contains(err.Error(), "User:<principal> --operation Read --topic 'events'") {
		t.Errorf("without a SASL user: %v", err)
	}
	if err := Wrap(sarama.ErrClusterAuthorizationFailed, nil, "x", "IdempotentWrite", Cluster, "kafka-cluster", false); !strings.HasSuffix(err.Error(), "--operation IdempotentWrite --cluster") {
		t.Errorf("cluster: %v", err)
	}
	other := errors.New("boom")
	if Wrap(other, cfg, "x", "Read", Topic, "t", false) != other || Wrap(nil, cfg, "x", "Read", Topic, "t", false) != nil {
		t.Error("non-authorization errors must pass unchanged")
	}
	auth := Wrap(fmt.Errorf("connect: %w", sarama.ErrSASLAuthenticationFailed), cfg, "kafka: connect", "", "", "", false)
	if !errors.Is(auth, ErrNotAuthenticated) || !errors.Is(auth, sarama.ErrSASLAuthenticationFailed) || !strings.Contains(auth.Error(), `as "orders" with SCRAM-SHA-512`) {
		t.Errorf("authentication: %v", auth)
	}
	if !Fatal(auth) || !Fatal(err) || Fatal(other) || Fatal(nil) || Fatal(sarama.ErrNotLeaderForPartition) {
		t.Error("Fatal misclassifies")
	}
}
