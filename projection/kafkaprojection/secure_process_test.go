package kafkaprojection_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/eventstore/kafka"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/projection/kafkaprojection"
)

// TestSecureProcessManagerACLs runs a process manager as a user holding
// exactly the ACLs docs/security.md documents for it (its event store's,
// Read on the group, Read and Write on its positions topic, which an
// operator created), then without Read and without Write on the positions
// topic: Run must end at once with an authorization error that names the
// positions topic, the operation and the kafka-acls.sh command.
func TestSecureProcessManagerACLs(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	topic := kafkatest.TopicName(t, "events-pm")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	group := "pm-" + topic
	positions := kafkaprojection.DefaultPositionTopic(topic, group)
	require.NotEmpty(t, positions)
	compact := "compact"
	c.CreateTopic(t, positions, 2, map[string]*string{"cleanup.policy": &compact})
	var deposits []eventstore.Position
	p := newProducer(t, c, topic)
	for _, pos := range p.depositN(12, 4) {
		deposits = append(deposits, pos)
	}
	all := map[string]string{
		"topic Read":             "topic:" + topic + ":Read",
		"topic Write":            "topic:" + topic + ":Write",
		"topic DescribeConfigs":  "topic:" + topic + ":DescribeConfigs",
		"transactional-id Write": "prefixed-transactional-id:" + kafka.TransactionalIDACLPrefix(topic) + ":Write",
		"group Read":             "group:" + group + ":Read",
		"positions Read":         "topic:" + positions + ":Read",
		"positions Write":        "topic:" + positions + ":Write",
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
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cfg := u.Config()
		cfg.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
		cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
		store, err := kafka.New(ctx, c.ClientWith(t, u.Config()), topic)
		if err != nil {
			return err
		}
		defer store.Close()
		src, err := kafkaprojection.NewProcessSource(ctx, c.ClientWith(t, cfg), topic, group, kafkaprojection.WithLogger(discard()))
		if err != nil {
			return err
		}
		defer src.Close()
		m := ledgerManager(t, store, kafkaprojection.NewProcessCommitter(store, c.ClientWith(t, u.Config()), topic, group, kafkaprojection.WithCommitterLogger(discard())), nil)
		errc := make(chan error, 1)
		go func() { errc <- m.Run(ctx, src) }()
		if wait {
			if err := m.WaitFor(ctx, deposits...); err != nil {
				cancel()
				return err
			}
			cancel()
		}
		return <-errc
	}
	t.Run("all", func(t *testing.T) {
		require.ErrorIs(t, run(t, c.NewUser(t, specs("")...), true), context.Canceled, "with every documented ACL")
		allRecorded(t, c, topic, 12, 30*time.Second, "every input recorded")
	})
	for _, missing := range []string{"positions Read", "positions Write"} {
		t.Run("without "+missing, func(t *testing.T) {
			// New inputs, so that a manager without Write has a batch to
			// commit.
			deposits = append(deposits, p.deposit("late-"+missing, 5))
			u := c.NewUser(t, specs(missing)...)
			var (
				err  error
				took time.Duration
				ae   *kafkaprojection.AuthorizationError
			)
			// A new user's ACLs reach the broker's authorizer a moment
			// after they are created: a run that is refused something the
			// user holds (CI once saw Write on the events topic refused)
			// is run again, a few times.
			for try := 0; ; try++ {
				start := time.Now()
				err = run(t, u, false)
				took = time.Since(start)
				t.Logf("without %s after %v: %v", missing, took.Round(time.Millisecond), err)
				require.ErrorIs(t, err, kafkaprojection.ErrNotAuthorized)
				require.ErrorAs(t, err, &ae)
				if ae.Name == positions || try == 4 {
					break
				}
				time.Sleep(time.Second)
			}
			require.Equal(t, "topic", ae.Resource)
			require.Equal(t, positions, ae.Name)
			require.Equal(t, map[string]string{"positions Read": "Read", "positions Write": "Write"}[missing], ae.Operation)
			require.Contains(t, err.Error(), "kafka-acls.sh")
			require.Less(t, took, 45*time.Second, "authorization errors must end Run at once")
		})
	}
}
