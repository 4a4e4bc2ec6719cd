package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// storeACLs are the ACLs docs/security.md documents for an event store on
// topic: Read, Write and DescribeConfigs on the topic, Write on the
// PREFIXED transactional IDs of its producers.
func storeACLs(topic string) map[string]string {
	return map[string]string{
		"topic Read":             "topic:" + topic + ":Read",
		"topic Write":            "topic:" + topic + ":Write",
		"topic DescribeConfigs":  "topic:" + topic + ":DescribeConfigs",
		"transactional-id Write": "prefixed-transactional-id:" + kafka.TransactionalIDACLPrefix(topic) + ":Write",
	}
}

// TestSecureMinimalACLs runs a store as a user holding exactly the
// documented ACLs, then as users missing one of them each: every missing
// ACL fails New or the first Append at once (no retries), with an error
// that matches kafka.ErrNotAuthorized and the broker's code, and names the
// operation, the resource and the kafka-acls.sh command that allows it.
func TestSecureMinimalACLs(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	topic := kafkatest.TopicName(t, "secure")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	all := storeACLs(topic)
	specs := func(skip string) []kafkatest.ACL {
		var out []string
		for name, s := range all {
			if name != skip {
				out = append(out, s)
			}
		}
		return kafkatest.MustACLs(out...)
	}
	run := func(t *testing.T, u *kafkatest.User) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cl, err := sarama.NewClient(c.Brokers, u.Config())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		s, err := kafka.New(ctx, cl, topic)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.Append(ctx, "acc-1", eventstore.Any, eventstore.Event{Type: "Opened", Data: []byte("{}")}); err != nil {
			return err
		}
		for _, err := range s.ReadStream(ctx, "acc-1", 1) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	t.Run("all", func(t *testing.T) {
		if err := run(t, c.NewUser(t, specs("")...)); err != nil {
			t.Fatalf("with every documented ACL: %v", err)
		}
	})
	codes := map[string]error{
		"topic Read":             sarama.ErrTopicAuthorizationFailed,
		"topic Write":            sarama.ErrTopicAuthorizationFailed,
		"topic DescribeConfigs":  sarama.ErrTopicAuthorizationFailed,
		"transactional-id Write": sarama.ErrTransactionalIDAuthorizationFailed,
	}
	t.Run("without any ACL", func(t *testing.T) {
		u := c.NewUser(t)
		err := run(t, u)
		t.Logf("without any ACL: %v", err)
		var ae *kafka.AuthorizationError
		if !errors.As(err, &ae) || ae.Resource != "topic" || ae.Name != topic || ae.Operation != "Describe" {
			t.Fatalf("want an AuthorizationError for Describe on topic %s, got %v", topic, err)
		}
	})
	for missing := range all {
		t.Run("without "+missing, func(t *testing.T) {
			u := c.NewUser(t, specs(missing)...)
			start := time.Now()
			err := run(t, u)
			took := time.Since(start)
			t.Logf("without %s after %v: %v", missing, took.Round(time.Millisecond), err)
			if err == nil {
				t.Fatalf("the store worked without %s", missing)
			}
			if !errors.Is(err, kafka.ErrNotAuthorized) || !errors.Is(err, codes[missing]) {
				t.Fatalf("error matches neither kafka.ErrNotAuthorized nor %v: %v", codes[missing], err)
			}
			var ae *kafka.AuthorizationError
			if !errors.As(err, &ae) {
				t.Fatalf("error is no *kafka.AuthorizationError: %v", err)
			}
			res, op, _ := strings.Cut(missing, " ")
			wantName := topic
			if res == "transactional-id" {
				wantName = kafka.TransactionalIDACLPrefix(topic)
			}
			if ae.Resource != res || ae.Operation != op || ae.Name != wantName || ae.Principal != u.Principal() {
				t.Errorf("AuthorizationError{Resource %q, Operation %q, Name %q, Principal %q}, want %q %q %q %q",
					ae.Resource, ae.Operation, ae.Name, ae.Principal, res, op, wantName, u.Principal())
			}
			msg := err.Error()
			for _, want := range []string{"kafka-acls.sh", "--operation " + op, "--" + res + " '" + wantName + "'", u.Principal()} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not say %q: %s", want, msg)
				}
			}
			if res == "transactional-id" && !strings.Contains(msg, "--resource-pattern-type prefixed") {
				t.Errorf("error does not ask for a PREFIXED ACL: %s", msg)
			}
			// Denied requests are not retried: the failure comes after a
			// few round trips, not after backoffs.
			if took > 10*time.Second {
				t.Errorf("took %v to fail: authorization errors must not be retried", took)
			}
		})
	}
}

// TestSecureRevokedCredentials: a store started after the user's
// credentials were deleted (a rotated password) fails with an error that
// matches kafka.ErrNotAuthenticated and says what to check.
func TestSecureRevokedCredentials(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	if c.Embedded {
		t.Skip("kfake closes the connection on a failed SASL authentication instead of answering SASL_AUTHENTICATION_FAILED; " +
			"this test runs against scripts/kafka-secure.sh (CI stage scripts/ci-kafka-secure.sh)")
	}
	topic := kafkatest.TopicName(t, "secure")
	c.CreateTopic(t, topic, 1, kafkatest.EventsTopicConfig())
	u := c.NewUser(t, kafkatest.MustACLs(storeACLs(topic)["topic Read"], storeACLs(topic)["topic Write"])...)
	cl, err := sarama.NewClient(c.Brokers, u.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	u.Delete(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		s, err := kafka.New(ctx, cl, topic, kafka.WithAllowUnsafeTopic())
		if err == nil { // the broker does not know of the deletion yet
			_ = s.Close()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if !errors.Is(err, kafka.ErrNotAuthenticated) || !strings.Contains(err.Error(), "check the SASL user, password and mechanism") {
			t.Fatalf("want ErrNotAuthenticated with advice, got: %v", err)
		}
		t.Logf("revoked: %v", err)
		return
	}
}
