package kafkatest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkaconfig"
)

// ACL is a set of allowed operations for one resource pattern, as
// kafka-acls.sh --add --allow-principal P --operation O... grants them.
type ACL struct {
	// Resource is the resource type (topic, group, transactional ID,
	// cluster).
	Resource sarama.AclResourceType
	// Name is the resource name, "*" for every resource of the type.
	Name string
	// Prefixed makes Name a prefix (PREFIXED pattern) instead of a literal.
	Prefixed bool
	// Ops are the allowed operations.
	Ops []sarama.AclOperation
}

var aclResources = map[string]sarama.AclResourceType{
	"topic": sarama.AclResourceTopic, "group": sarama.AclResourceGroup,
	"transactional-id": sarama.AclResourceTransactionalID, "cluster": sarama.AclResourceCluster,
}

// ParseACL reads "RESOURCE:NAME:OP,OP..." where RESOURCE is topic, group,
// transactional-id or cluster, optionally with a "prefixed-" in front for a
// PREFIXED pattern, NAME is a name or "*" (for the cluster: kafka-cluster),
// and the OPs are Kafka operation names (Read, Write, Create,
// DescribeConfigs, ...). Example: "prefixed-transactional-id:orders-:Write".
func ParseACL(spec string) (ACL, error) {
	res, rest, ok1 := strings.Cut(spec, ":")
	i := strings.LastIndex(rest, ":")
	if !ok1 || i < 0 {
		return ACL{}, fmt.Errorf("kafkatest: ACL %q: want RESOURCE:NAME:OP[,OP...]", spec)
	}
	name, ops := rest[:i], rest[i+1:]
	a := ACL{Name: name}
	if r, ok := strings.CutPrefix(res, "prefixed-"); ok {
		a.Prefixed, res = true, r
	}
	rt, ok := aclResources[res]
	if !ok {
		return ACL{}, fmt.Errorf("kafkatest: ACL %q: unknown resource %q (topic, group, transactional-id, cluster)", spec, res)
	}
	a.Resource = rt
	for op := range strings.SplitSeq(ops, ",") {
		var o sarama.AclOperation
		if err := o.UnmarshalText([]byte(op)); err != nil || o == sarama.AclOperationUnknown {
			return ACL{}, fmt.Errorf("kafkatest: ACL %q: unknown operation %q", spec, op)
		}
		a.Ops = append(a.Ops, o)
	}
	return a, nil
}

// MustACLs parses specs with [ParseACL] and panics on a bad one (for
// literals in tests).
func MustACLs(specs ...string) []ACL {
	out := make([]ACL, 0, len(specs))
	for _, s := range specs {
		a, err := ParseACL(s)
		if err != nil {
			panic(err)
		}
		out = append(out, a)
	}
	return out
}

func (a ACL) pattern() sarama.AclResourcePatternType {
	if a.Prefixed {
		return sarama.AclPatternPrefixed
	}
	return sarama.AclPatternLiteral
}

// GrantACLs allows principal ("User:name") the operations of acls, from any
// host.
func GrantACLs(admin sarama.ClusterAdmin, principal string, acls ...ACL) error {
	var ras []*sarama.ResourceAcls
	for _, a := range acls {
		ra := &sarama.ResourceAcls{Resource: sarama.Resource{ResourceType: a.Resource, ResourceName: a.Name, ResourcePatternType: a.pattern()}}
		for _, op := range a.Ops {
			ra.Acls = append(ra.Acls, &sarama.Acl{Principal: principal, Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow})
		}
		ras = append(ras, ra)
	}
	if len(ras) == 0 {
		return nil
	}
	if err := admin.CreateACLs(ras); err != nil {
		return fmt.Errorf("kafkatest: grant ACLs to %s: %w", principal, err)
	}
	return nil
}

// RevokeAllACLs deletes every ACL of principal.
func RevokeAllACLs(admin sarama.ClusterAdmin, principal string) error {
	_, err := admin.DeleteACL(sarama.AclFilter{
		ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Principal: &principal, Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny,
	}, false)
	return err
}

// RequireSecure returns a cluster that authenticates with SASL/SCRAM and
// authorizes every request with ACLs (deny by default), with a super user
// in [Cluster.AdminConfig], for authorization tests:
//
//   - the real secured cluster of KAFKAES_BROKERS when
//     KAFKAES_KAFKA_ADMIN_CONFIG names its super user's client.properties
//     (scripts/kafka-secure.sh prints both);
//   - else, unless KAFKAES_REQUIRE_SECURE=1 (CI sets it for the secured
//     broker stage, so that the tests cannot quietly fall back), an
//     embedded secured cluster ([StartSecureEmbedded]), closed when the test
//     ends.
func RequireSecure(tb testing.TB) *Cluster {
	tb.Helper()
	if os.Getenv("KAFKAES_BROKERS") == "" || os.Getenv("KAFKAES_KAFKA_ADMIN_CONFIG") == "" {
		if os.Getenv("KAFKAES_REQUIRE_SECURE") == "1" {
			tb.Fatal("KAFKAES_REQUIRE_SECURE=1 needs a real secured broker: run `scripts/kafka-secure.sh start && eval \"$(scripts/kafka-secure.sh env)\"` " +
				"(sets KAFKAES_BROKERS, KAFKAES_KAFKA_CONFIG and KAFKAES_KAFKA_ADMIN_CONFIG)")
		}
		c, err := StartSecureEmbedded()
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(c.Close)
		return c
	}
	c := New(tb)
	if cfg := c.AdminConfig(); !cfg.Net.SASL.Enable || !strings.HasPrefix(string(cfg.Net.SASL.Mechanism), "SCRAM") {
		tb.Fatal("kafkatest: KAFKAES_KAFKA_ADMIN_CONFIG must use SASL SCRAM (the tests create SCRAM users)")
	}
	return c
}

// StartSecureEmbedded starts an in-process single-broker cluster (kfake)
// with SASL (SCRAM-SHA-512, no TLS) and ACL checks on every request, and a
// super user that [Cluster.Config] and [Cluster.AdminConfig] connect as.
// Close it when done.
func StartSecureEmbedded() (*Cluster, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	pass := hex.EncodeToString(b[:])
	fc, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (netListener, error) { return listenLoopback(network) }),
		kfake.EnableSASL(),
		kfake.EnableACLs(),
		kfake.Superuser(sarama.SASLTypeSCRAMSHA512, "admin", pass),
	)
	if err != nil {
		return nil, fmt.Errorf("kafkatest: start embedded secured kafka: %w", err)
	}
	return &Cluster{Brokers: fc.ListenAddrs(), Embedded: true, fake: fc, adminUser: "admin", adminPass: pass}, nil
}

func (c *Cluster) applyAdmin(cfg *sarama.Config) {
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = c.adminUser, c.adminPass
	cfg.Net.SASL.SCRAMClientGeneratorFunc = kafkaconfig.SCRAMClientGenerator(sarama.SASLTypeSCRAMSHA512)
}

// Admin returns a cluster admin of the super user, closed when the test
// ends.
func (c *Cluster) Admin(tb testing.TB) sarama.ClusterAdmin {
	tb.Helper()
	a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
	if err != nil {
		tb.Fatalf("kafkatest: admin client: %v", err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

// User is a SCRAM user made by [Cluster.NewUser].
type User struct {
	// Name is the user name; the principal is "User:"+Name.
	Name string
	c    *Cluster
	pw   string
	mech sarama.ScramMechanismType
}

// Delete deletes the user's SCRAM credentials (as a password rotation
// would invalidate them): connections made afterwards fail to
// authenticate, once the brokers have the change.
func (u *User) Delete(tb testing.TB) {
	tb.Helper()
	a := u.c.Admin(tb)
	res, err := a.DeleteUserScramCredentials([]sarama.AlterUserScramCredentialsDelete{{Name: u.Name, Mechanism: u.mech}})
	if err == nil && len(res) > 0 && res[0].ErrorCode != sarama.ErrNoError {
		err = res[0].ErrorCode
	}
	if err != nil {
		tb.Fatalf("kafkatest: delete SCRAM user %s: %v", u.Name, err)
	}
}

// Principal returns "User:<name>".
func (u *User) Principal() string { return "User:" + u.Name }

// Config returns [Cluster.Config] authenticated as the user.
func (u *User) Config() *sarama.Config {
	cfg := u.c.AdminConfig()
	cfg.ClientID = "kafkaes-test-" + u.Name
	cfg.Net.SASL.User, cfg.Net.SASL.Password = u.Name, u.pw
	return cfg
}

// PropertiesFile writes a client.properties file for the user (for tools
// that take one, such as the CLI's --kafka-config): the admin's file
// (KAFKAES_KAFKA_ADMIN_CONFIG) with the user's name and password in its
// sasl.jaas.config. It returns the file's path, in a directory removed
// when the test ends.
func (u *User) PropertiesFile(tb testing.TB) string {
	tb.Helper()
	src := os.Getenv("KAFKAES_KAFKA_ADMIN_CONFIG")
	text, err := os.ReadFile(src)
	if err != nil {
		tb.Fatalf("kafkatest: read the admin's client.properties: %v", err)
	}
	jaas := regexp.MustCompile(`username="[^"]*"\s+password="[^"]*"`)
	if !jaas.Match(text) {
		tb.Fatalf("kafkatest: %s has no username=\"...\" password=\"...\" in its sasl.jaas.config", src)
	}
	out := jaas.ReplaceAll(text, []byte(fmt.Sprintf(`username="%s" password="%s"`, u.Name, u.pw)))
	path := filepath.Join(tb.TempDir(), u.Name+".properties")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// NewUser creates a SCRAM user with a random name and password on a
// secured cluster ([RequireSecure]) with the admin's mechanism, grants it
// acls, and deletes the user and its ACLs when the test ends.
func (c *Cluster) NewUser(tb testing.TB, acls ...ACL) *User {
	tb.Helper()
	admin := c.Admin(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	u := &User{Name: "t-" + hex.EncodeToString(b[:]), c: c}
	_, _ = rand.Read(b[:])
	u.pw = hex.EncodeToString(b[:])
	mech := sarama.SCRAM_MECHANISM_SHA_512
	if c.AdminConfig().Net.SASL.Mechanism == sarama.SASLTypeSCRAMSHA256 {
		mech = sarama.SCRAM_MECHANISM_SHA_256
	}
	u.mech = mech
	// ACLs first: the user's credentials come later in the metadata log,
	// so once the user can authenticate its ACLs are in force too.
	if err := GrantACLs(admin, u.Principal(), acls...); err != nil {
		tb.Fatal(err)
	}
	salt := make([]byte, 16) // the broker refuses an upsert without a salt
	_, _ = rand.Read(salt)
	res, err := admin.UpsertUserScramCredentials([]sarama.AlterUserScramCredentialsUpsert{{Name: u.Name, Mechanism: mech, Iterations: 4096, Salt: salt, Password: []byte(u.pw)}})
	if err == nil && len(res) > 0 && res[0].ErrorCode != sarama.ErrNoError {
		err = res[0].ErrorCode
	}
	if err != nil {
		tb.Fatalf("kafkatest: create SCRAM user %s: %v", u.Name, err)
	}
	tb.Cleanup(func() {
		a, err := sarama.NewClusterAdmin(c.Brokers, c.AdminConfig())
		if err != nil {
			return
		}
		defer a.Close()
		_ = RevokeAllACLs(a, u.Principal())
		_, _ = a.DeleteUserScramCredentials([]sarama.AlterUserScramCredentialsDelete{{Name: u.Name, Mechanism: mech}})
	})
	// New credentials reach the broker's metadata cache asynchronously:
	// wait until the user can authenticate.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := sarama.NewClient(c.Brokers, u.Config())
		if err == nil {
			_ = cl.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kafkatest: new user %s cannot authenticate after 30s: %v", u.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return u
}
