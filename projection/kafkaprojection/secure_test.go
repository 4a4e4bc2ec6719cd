package kafkaprojection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// TestSecureMinimalACLs runs a projection with a dead-letter topic as a
// user holding exactly the ACLs docs/security.md documents for it (Read on
// the events topic and the group, Read and Write on the dead-letter topic),
// then as users missing one of them each: Run must fail at once (not log
// and rejoin forever, not hang) with an error that names the operation,
// the resource and the kafka-acls.sh command that allows it.
func TestSecureMinimalACLs(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	topic := kafkatest.TopicName(t, "events-secure")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	dlqTopic := kafkaprojection.DLQTopic(topic)
	c.CreateTopic(t, dlqTopic, 1, nil)
	p := newProducer(t, c, topic)
	p.deposit("a", 1)
	p.deposit("b", -1) // poison: goes to the dead-letter topic
	last := p.deposit("a", 2)

	all := map[string]string{
		"topic Read":     "topic:" + topic + ":Read",
		"group Read":     "group:" + "g-" + topic + ":Read",
		"dlq topic Read": "topic:" + dlqTopic + ":Read",
		// Write on the dead-letter topic is needed only when a letter is
		// written: the "all" run writes one, the others fail before.
		"dlq topic Write": "topic:" + dlqTopic + ":Write",
	}
	specs := func(skip string) []kafkatest.ACL {
		var out []string
		for name, s := range all {
			if name != skip {
				out = append(out, s)
			}
		}
		return kafkatest.MustACLs(out...)
	}
	run := func(t *testing.T, u *kafkatest.User, wait bool) error {
		dlq, err := kafkaprojection.NewDLQ(context.Background(), c.ClientWith(t, u.Config()), dlqTopic)
		if err != nil {
			return err
		}
		defer dlq.Close()
		r, err := projection.New("balances", testSerde(), []projection.Handler{
			projection.On(func(_ context.Context, ev Deposited, _ projection.Meta) error {
				if ev.Amount < 0 {
					return errors.New("negative deposit")
				}
				return nil
			}),
		}, projection.WithDeadLetter(dlq), projection.WithRetry(1, time.Millisecond, time.Millisecond), projection.WithLogger(discard()))
		require.NoError(t, err)
		cfg := u.Config()
		cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
		src := newSourceCfg(t, c, cfg, topic, "g-"+topic, kafkaprojection.WithLogger(discard()))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- r.Run(ctx, src) }()
		if wait {
			if err := r.WaitFor(ctx, last); err != nil {
				cancel()
				return errors.Join(err, <-errc)
			}
			cancel()
		}
		return <-errc
	}
	t.Run("all", func(t *testing.T) {
		err := run(t, c.NewUser(t, specs("")...), true)
		require.ErrorIs(t, err, context.Canceled, "with every documented ACL")
	})
	// The "all" run wrote a letter: the runs below find the dead-letter
	// topic not empty, and read it at start.
	for missing, spec := range all {
		if missing == "dlq topic Write" {
			continue // needs a letter to write; covered by its own case below
		}
		t.Run("without "+missing, func(t *testing.T) {
			u := c.NewUser(t, specs(missing)...)
			start := time.Now()
			err := run(t, u, false)
			took := time.Since(start)
			t.Logf("without %s after %v: %v", missing, took.Round(time.Millisecond), err)
			require.Error(t, err)
			require.ErrorIs(t, err, kafkaprojection.ErrNotAuthorized)
			var ae *kafkaprojection.AuthorizationError
			require.ErrorAs(t, err, &ae)
			acl := kafkatest.MustACLs(spec)[0]
			res := map[bool]string{true: "group", false: "topic"}[strings.HasPrefix(spec, "group:")]
			require.Equal(t, res, ae.Resource)
			require.Equal(t, acl.Name, ae.Name)
			require.Equal(t, "Read", ae.Operation)
			require.Contains(t, err.Error(), "kafka-acls.sh")
			require.Contains(t, err.Error(), "--"+res+" '"+acl.Name+"'")
			require.Less(t, took, 30*time.Second, "authorization errors must end Run at once")
		})
	}
	t.Run("without dlq topic Write", func(t *testing.T) {
		// The dead-letter sink's idempotent producer cannot even start
		// without Write on some topic; that is reported as Write on the
		// dead-letter topic.
		u := c.NewUser(t, specs("dlq topic Write")...)
		err := run(t, u, false)
		t.Logf("without dlq topic Write: %v", err)
		require.ErrorIs(t, err, kafkaprojection.ErrNotAuthorized)
		var ae *kafkaprojection.AuthorizationError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, []string{"topic", dlqTopic, "Write"}, []string{ae.Resource, ae.Name, ae.Operation})
	})
	for _, acl := range []string{"", "topic:" + topic + ":Describe"} {
		t.Run("reader without topic Read "+acl, func(t *testing.T) {
			var acls []kafkatest.ACL
			if acl != "" {
				acls = kafkatest.MustACLs(acl)
			}
			u := c.NewUser(t, acls...)
			rd, err := kafkaprojection.NewReader(context.Background(), c.ClientWith(t, u.Config()), topic, kafkaprojection.WithLogger(discard()))
			require.NoError(t, err)
			defer rd.Close()
			r, err := projection.New("reader", testSerde(), []projection.Handler{
				projection.On(func(context.Context, Deposited, projection.Meta) error { return nil }),
			}, projection.WithLogger(discard()))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err = r.Run(ctx, rd)
			t.Logf("reader: %v", err)
			var ae *kafkaprojection.AuthorizationError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, []string{"topic", topic, "Read"}, []string{ae.Resource, ae.Name, ae.Operation})
		})
	}
}

// TestSecureTransformerACLs runs an exactly-once transformer as a user
// holding exactly the ACLs docs/security.md documents for it (Read on the
// input topic and the group, Write on the output topic, Write on the
// PREFIXED transactional ID kafkaes-transform-<group>), then as users
// missing one of them each: Run must end at once with an
// *AuthorizationError that names the operation and the resource, and
// nothing may reach the output topic.
func TestSecureTransformerACLs(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	in := kafkatest.TopicName(t, "events-secure")
	c.CreateTopic(t, in, 1, kafkatest.EventsTopicConfig())
	out := derivedTopic(t, c, 1)
	last := newProducer(t, c, in).depositN(1, 3)

	type acl struct{ spec, resource, name, op string }
	all := map[string]acl{}
	for _, a := range []acl{
		{"topic:%s:Read", "topic", in, "Read"},
		{"group:%s:Read", "group", "", "Read"},
		{"topic:%s:Write", "topic", out, "Write"},
		{"prefixed-transactional-id:%s:Write", "transactional-id", "", "Write"},
	} {
		all[a.resource+" "+a.op+" "+a.name] = a
	}
	run := func(t *testing.T, missing string, wait bool) (string, error) {
		group := kafkatest.TopicName(t, "tgroup")
		prefix := "kafkaes-transform-" + group
		var specs []string
		for name, a := range all {
			if name == missing {
				continue
			}
			target := a.name
			switch a.resource {
			case "group":
				target = group
			case "transactional-id":
				target = prefix
			}
			specs = append(specs, fmt.Sprintf(a.spec, target))
		}
		u := c.NewUser(t, kafkatest.MustACLs(specs...)...)
		cfg := u.Config()
		cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
		tr, err := kafkaprojection.NewTransformer(context.Background(), c.ClientWith(t, cfg), in, group, kafkaprojection.WithLogger(discard()))
		if err != nil {
			return group, err
		}
		defer tr.Close()
		r, err := projection.New("copier", testSerde(), []projection.Handler{
			projection.On(func(ctx context.Context, ev Deposited, m projection.Meta) error {
				data, _ := json.Marshal(ev)
				return kafkaprojection.EmitEvent(ctx, out, m.StreamID, m.Version, eventstore.Event{ID: m.EventID, Type: "test.Deposited", Data: data}, m.Time)
			}),
		}, projection.WithCheckpoints(tr), projection.WithLogger(discard()))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- r.Run(ctx, tr.Source()) }()
		if wait {
			for _, pos := range last {
				if err := r.WaitFor(ctx, pos); err != nil {
					cancel()
					return group, errors.Join(err, <-errc)
				}
			}
			cancel()
		}
		return group, <-errc
	}
	t.Run("all", func(t *testing.T) {
		_, err := run(t, "", true)
		require.ErrorIs(t, err, context.Canceled, "with every documented ACL")
	})
	for missing, a := range all {
		t.Run("without "+missing, func(t *testing.T) {
			start := time.Now()
			group, err := run(t, missing, false)
			took := time.Since(start)
			t.Logf("without %s after %v: %v", missing, took.Round(time.Millisecond), err)
			require.ErrorIs(t, err, kafkaprojection.ErrNotAuthorized)
			var ae *kafkaprojection.AuthorizationError
			require.ErrorAs(t, err, &ae)
			name := a.name
			switch a.resource {
			case "group":
				name = group
			case "transactional-id":
				name = "kafkaes-transform-" + group
			}
			require.Equal(t, []string{a.resource, name, a.op}, []string{ae.Resource, ae.Name, ae.Operation})
			require.Contains(t, err.Error(), "kafka-acls.sh")
			require.Less(t, took, 30*time.Second, "authorization errors must end Run at once")
		})
	}
}

// A filtered Reader (raw fetches through franz-go, with the sarama
// configuration's SASL SCRAM credentials) needs Read on the topic, like
// the unfiltered one, and says so when it is missing.
func TestSecureFilteredReader(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	topic := kafkatest.TopicName(t, "events-secure")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	p := newProducer(t, c, topic)
	for i := range 10 {
		p.deposit(fmt.Sprint("s", i%3), int64(i))
	}
	p.event("s0", "test.Withdrawn", []byte(`{"amount":1}`))
	run := func(t *testing.T, u *kafkatest.User) (int, error) {
		rd, err := kafkaprojection.NewReader(context.Background(), c.ClientWith(t, u.Config()), topic,
			kafkaprojection.WithLogger(discard()), kafkaprojection.WithReadOptions(eventstore.WithTypes("test.Deposited")))
		require.NoError(t, err)
		defer rd.Close()
		got := newSeen()
		r, err := projection.New("filtered", testSerde(), []projection.Handler{got.handler()}, projection.WithLogger(discard()))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err = r.CatchUp(ctx, rd, nil)
		return got.total(), err
	}
	t.Run("topic Read", func(t *testing.T) {
		n, err := run(t, c.NewUser(t, kafkatest.MustACLs("topic:"+topic+":Read")...))
		require.NoError(t, err)
		require.Equal(t, 10, n)
	})
	t.Run("topic Describe only", func(t *testing.T) {
		_, err := run(t, c.NewUser(t, kafkatest.MustACLs("topic:"+topic+":Describe")...))
		var ae *kafkaprojection.AuthorizationError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, []string{"topic", topic, "Read"}, []string{ae.Resource, ae.Name, ae.Operation})
	})
}
