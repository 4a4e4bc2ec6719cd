// Command kafkaacl grants Kafka ACLs, as `kafka-acls.sh --add` does, for
// clusters where the Kafka command-line tools are not installed (the jars
// scripts/kafka-broker.sh fetches do not include them).
// scripts/kafka-secure.sh uses it to grant the application user its ACLs.
//
// Usage:
//
//	go run ./scripts/kafkaacl -brokers host:port -config admin.properties \
//	    -principal User:app RESOURCE:NAME:OP[,OP...] ...
//
// RESOURCE is topic, group, transactional-id or cluster, with "prefixed-"
// in front for a PREFIXED pattern; NAME is a name or "*"; the OPs are Kafka
// operation names (Read, Write, Create, Describe, DescribeConfigs, ...).
// -config is a client.properties file of a super user (see package
// kafkaconfig). It exits 0 once every ACL is in place.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
	"github.com/kafkaes/kafkaes/kafkaconfig"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("KAFKAES_BROKERS"), "comma-separated bootstrap addresses (default $KAFKAES_BROKERS)")
	config := flag.String("config", "", "client.properties of a super user")
	principal := flag.String("principal", "", `principal to allow, e.g. "User:app"`)
	flag.Parse()
	if err := run(strings.Split(*brokers, ","), *config, *principal, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaacl:", err)
		os.Exit(1)
	}
}

func run(brokers []string, config, principal string, specs []string) error {
	if principal == "" || len(specs) == 0 {
		return fmt.Errorf("need -principal and at least one RESOURCE:NAME:OPS")
	}
	acls := make([]kafkatest.ACL, 0, len(specs))
	for _, s := range specs {
		a, err := kafkatest.ParseACL(s)
		if err != nil {
			return err
		}
		acls = append(acls, a)
	}
	cfg := sarama.NewConfig()
	cfg.ClientID = "kafkaes-kafkaacl"
	if config != "" {
		p, err := kafkaconfig.ReadProperties(config)
		if err != nil {
			return err
		}
		if err := p.Apply(cfg); err != nil {
			return err
		}
	}
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return fmt.Errorf("connect to %v: %w", brokers, err)
	}
	defer admin.Close()
	if err := kafkatest.GrantACLs(admin, principal, acls...); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kafkaacl: granted %s: %s\n", principal, strings.Join(specs, " "))
	return nil
}
