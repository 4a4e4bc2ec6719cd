package main

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// TestSecureCLIACLs runs each CLI command that talks to Kafka as a user
// holding exactly the ACLs docs/security.md lists for it, then as users
// missing one of them each: the command must succeed with the full set,
// and without one ACL fail (not hang) with a message that names the
// operation and the resource and gives the kafka-acls.sh command.
func TestSecureCLIACLs(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	if c.Embedded {
		t.Skip("needs the secured broker of scripts/kafka-secure.sh (CI stage scripts/ci-kafka-secure.sh)")
	}
	topic := kafkatest.TopicName(t, "events-cli")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	newProducer(t, c, "").send(topic, 2, streamEvents("acc-1", 3)...)
	group := kafkatest.TopicName(t, "group")
	commitGroupOffsets(t, c, group, topic, 2)
	// A dead letter of acc-1 (the dead-letter topic's records are the
	// event's, plus the dlq.* headers).
	dlqTopic := topic + ".dlq"
	c.CreateTopic(t, dlqTopic, 2, nil)
	letter := event("acc-1", 2, "acc-1-2", `{"n": -1}`)
	letter.headers = append(letter.headers, sarama.RecordHeader{Key: []byte(headerDLQProjection), Value: []byte("balances")},
		sarama.RecordHeader{Key: []byte(headerDLQError), Value: []byte("boom")})
	newProducer(t, c, "").send(dlqTopic, 2, letter)

	type acl struct{ resource, name, op string }
	topicRead := acl{"topic", topic, "Read"}
	dlqRead := acl{"topic", dlqTopic, "Read"}
	cases := []struct {
		args []string
		acls []acl
	}{
		{[]string{"verify", "--topic", topic}, []acl{topicRead}},
		{[]string{"stream", "acc-1", "--topic", topic}, []acl{topicRead}},
		{[]string{"tail", "--from-beginning", "--limit", "3", "--topic", topic}, []acl{topicRead}},
		{[]string{"topics", "--topic", topic}, []acl{topicRead, {"topic", topic, "DescribeConfigs"}}},
		{[]string{"projection", "status", "--group", group, "--topic", topic}, []acl{topicRead, {"group", group, "Describe"}}},
		{[]string{"projection", "rebuild", "--yes", "--group", group, "--topic", topic}, []acl{topicRead, {"group", group, "Read"}}},
		{[]string{"dlq", "list", "--topic", topic}, []acl{dlqRead}},
		{[]string{"dlq", "show", "acc-1", "--topic", topic}, []acl{dlqRead}},
		{[]string{"dlq", "retry", "acc-1", "--projection", "balances", "--by", "ops", "--topic", topic}, []acl{{"topic", dlqTopic, "Write"}}},
	}
	for _, tc := range cases {
		name := strings.Join(tc.args[:2], " ")
		for skip := -1; skip < len(tc.acls); skip++ {
			var specs []string
			for i, a := range tc.acls {
				if i != skip {
					specs = append(specs, a.resource+":"+a.name+":"+a.op)
				}
			}
			u := c.NewUser(t, kafkatest.MustACLs(specs...)...)
			args := append(append([]string{}, tc.args...), "--kafka-config", u.PropertiesFile(t), "--timeout", "20s")
			r := runWith(nil, args...)
			if skip < 0 {
				if r.code != exitOK {
					t.Errorf("%s with its documented ACLs %v:\n%s", name, specs, r)
				}
				continue
			}
			a := tc.acls[skip]
			t.Logf("%s without %s %s: exit %d: %s", name, a.resource, a.op, r.code, strings.TrimSpace(r.stderr))
			want := []string{"kafka-acls.sh", "--operation " + a.op, "--" + a.resource + " '" + a.name + "'", u.Principal()}
			for _, w := range want {
				if r.code != exitFailure || !strings.Contains(r.stderr, w) {
					t.Errorf("%s without %s %s on %s: want exit %d and %q in the message:\n%s", name, a.op, a.resource, a.name, exitFailure, w, r)
					break
				}
			}
		}
	}
}

// commitGroupOffsets commits offset 0 for every partition of topic in
// group, as a projection that has started would have.
func commitGroupOffsets(t *testing.T, c *kafkatest.Cluster, group, topic string, parts int32) {
	t.Helper()
	cl, err := sarama.NewClient(c.Brokers, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, cl)
	if err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		pom.MarkOffset(1, "")
		_ = pom.Close()
	}
	om.Commit()
	if err := om.Close(); err != nil {
		t.Fatal(err)
	}
}
