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
// kafkaconfig). With -user NAME it first creates (or updates) the SCRAM
// user NAME with the password in $KAFKAACL_PASSWORD and the admin's SCRAM
// mechanism, grants the ACLs to User:NAME, and waits until the user can
// authenticate. It exits 0 once every ACL is in place.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

func main() {
	brokers := flag.String("brokers", os.Getenv("KAFKAES_BROKERS"), "comma-separated bootstrap addresses (default $KAFKAES_BROKERS)")
	config := flag.String("config", "", "client.properties of a super user")
	principal := flag.String("principal", "", `principal to allow, e.g. "User:app"`)
	user := flag.String("user", "", "create this SCRAM user (password in $KAFKAACL_PASSWORD) and allow it (sets -principal)")
	flag.Parse()
	if *user != "" {
		*principal = "User:" + *user
	}
	if err := run(strings.Split(*brokers, ","), *config, *principal, *user, os.Getenv("KAFKAACL_PASSWORD"), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "kafkaacl:", err)
		os.Exit(1)
	}
}

func run(brokers []string, config, principal, user, password string, specs []string) error {
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
	if user != "" {
		if err := createUser(admin, brokers, cfg, user, password); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "kafkaacl: granted %s: %s\n", principal, strings.Join(specs, " "))
	return nil
}

// createUser upserts the SCRAM credentials of user (after its ACLs, so
// that once it authenticates its ACLs are in force) and waits until it
// can authenticate.
func createUser(admin sarama.ClusterAdmin, brokers []string, adminCfg *sarama.Config, user, password string) error {
	if password == "" {
		return fmt.Errorf("-user %s needs the password in $KAFKAACL_PASSWORD", user)
	}
	mech, smech := sarama.SCRAM_MECHANISM_SHA_512, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA512)
	if adminCfg.Net.SASL.Mechanism == sarama.SASLTypeSCRAMSHA256 {
		mech, smech = sarama.SCRAM_MECHANISM_SHA_256, sarama.SASLTypeSCRAMSHA256
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	res, err := admin.UpsertUserScramCredentials([]sarama.AlterUserScramCredentialsUpsert{{Name: user, Mechanism: mech, Iterations: 4096, Salt: salt, Password: []byte(password)}})
	if err == nil && len(res) > 0 && res[0].ErrorCode != sarama.ErrNoError {
		err = res[0].ErrorCode
	}
	if err != nil {
		return fmt.Errorf("create SCRAM user %s: %w", user, err)
	}
	cfg := *adminCfg
	cfg.Net.SASL.Enable, cfg.Net.SASL.Mechanism = true, smech
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, password
	cfg.Net.SASL.SCRAMClientGeneratorFunc = kafkaconfig.SCRAMClientGenerator(smech)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := sarama.NewClient(brokers, &cfg)
		if err == nil {
			_ = cl.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("new user %s cannot authenticate after 30s: %w", user, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
