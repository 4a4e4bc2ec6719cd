package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kafkaes/kafkaes/eventstore/kafka/kafkatest"
)

// runWith runs the CLI with the environment env.
func runWith(env map[string]string, args ...string) result {
	var out, errOut bytes.Buffer
	code := runEnv(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSCRAMAndConfigFile: the CLI reaches a SCRAM-SHA-512 listener with
// flags and with a client.properties file, and a refused login shows the
// broker's reason, not only sarama's "run out of available brokers".
func TestSCRAMAndConfigFile(t *testing.T) {
	cert, caPEM := selfSigned(t)
	topic := "events-scram"
	fake, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "ada", "s3cret"),
		kfake.SeedTopics(2, topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ca := writeTemp(t, "ca.pem", string(caPEM))
	brokers := strings.Join(fake.ListenAddrs(), ",")
	ok := func(r result) {
		t.Helper()
		if r.code != exitOK || !strings.Contains(r.stdout, "0 records in 2 partitions") {
			t.Fatalf("verify over TLS + SCRAM-SHA-512:\n%s", r)
		}
	}
	ok(runWith(map[string]string{"KAFKAES_SASL_PASSWORD": "s3cret"}, "verify", "--brokers", brokers, "--topic", topic,
		"--tls-ca", ca, "--sasl-user", "ada", "--sasl-mechanism", "SCRAM-SHA-512"))
	ok(runWith(map[string]string{"KAFKAES_SASL_PASSWORD": "s3cret", "KAFKAES_SASL_USER": "ada", "KAFKAES_SASL_MECHANISM": "scram-sha-512"},
		"verify", "--brokers", brokers, "--topic", topic, "--tls-ca", ca))

	props := func(user, pw, mech string) string {
		return writeTemp(t, "client.properties", fmt.Sprintf(`bootstrap.servers=%s
security.protocol=SASL_SSL
sasl.mechanism=%s
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";
ssl.truststore.type=PEM
ssl.truststore.location=%s
`, brokers, mech, user, pw, ca))
	}
	ok(runWith(nil, "verify", "--kafka-config", props("ada", "s3cret", "SCRAM-SHA-512"), "--topic", topic))
	ok(runWith(map[string]string{"KAFKAES_KAFKA_CONFIG": props("ada", "s3cret", "SCRAM-SHA-512")}, "verify", "--topic", topic))

	// A wrong password: the broker's answer reaches the user.
	r := runWith(nil, "verify", "--kafka-config", props("ada", "wrong", "SCRAM-SHA-512"), "--topic", topic, "--timeout", "2s")
	if r.code != exitFailure || !strings.Contains(r.stderr, "cannot reach the Kafka cluster") || !strings.Contains(strings.ToLower(r.stderr), "sasl") {
		t.Errorf("wrong password: want the SASL failure in the message:\n%s", r)
	}
	if strings.Contains(r.stderr, "wrong") {
		t.Errorf("the password is printed:\n%s", r)
	}
	// A mechanism the listener does not enable.
	r = runWith(nil, "verify", "--kafka-config", props("ada", "s3cret", "SCRAM-SHA-256"), "--topic", topic, "--timeout", "2s")
	if r.code != exitFailure || !strings.Contains(strings.ToLower(r.stderr), "sasl") {
		t.Errorf("unsupported mechanism: want the broker's reason:\n%s", r)
	}
}

func TestConfigFileRefusesWhatItCannotHonour(t *testing.T) {
	for _, tc := range []struct{ props, want string }{
		{"security.protocol=SSL\nssl.keystore.password=x\n", "ssl.keystore.password not supported"},
		{"security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n", "GSSAPI"},
		{"security.protocol=SSL\nssl.truststore.type=JKS\nssl.truststore.location=x.jks\n", "keytool -exportcert"},
		{"bootstrap.servers=127.0.0.1:1\nbasic.auth.credentials.source=URL\n", "basic.auth.credentials.source=URL"},
	} {
		r := runWith(nil, "verify", "--brokers", "127.0.0.1:1", "--kafka-config", writeTemp(t, "c.properties", tc.props))
		if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: want exit %d and %q\n%s", tc.props, exitFailure, tc.want, r)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--sasl-mechanism", "SCRAM-SHA-256"}, "needs --sasl-user"},
		{map[string]string{"KAFKAES_SASL_PASSWORD": "x"}, []string{"--sasl-mechanism", "GSSAPI", "--sasl-user", "a"}, "GSSAPI is not supported"},
		{nil, []string{"--sasl-mechanism", "OAUTHBEARER"}, "KAFKAES_SASL_TOKEN"},
		{nil, []string{"--schema-registry-user", "bob"}, "KAFKAES_SCHEMA_REGISTRY_PASSWORD is empty"},
		{nil, []string{"--tls-cert", "/no/such/cert.pem"}, "--tls-cert"},
	} {
		r := runWith(tc.env, append([]string{"verify", "--brokers", "127.0.0.1:1", "--timeout", "1s"}, tc.args...)...)
		if r.code != exitFailure || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: want exit %d and %q\n%s", tc.args, exitFailure, tc.want, r)
		}
	}
}

// TestClientCertificate: mutual TLS with --tls-cert/--tls-key and with
// ssl.keystore.location in a config file.
func TestClientCertificate(t *testing.T) {
	serverCert, caPEM := selfSigned(t)
	clientPEM, keyPEM, clientCert := clientCertificate(t)
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	topic := "events-mtls"
	fake, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}),
		kfake.SeedTopics(1, topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ca := writeTemp(t, "ca.pem", string(caPEM))
	certFile, keyFile := writeTemp(t, "client.pem", clientPEM), writeTemp(t, "client.key", keyPEM)
	both := writeTemp(t, "both.pem", clientPEM+keyPEM)
	brokers := strings.Join(fake.ListenAddrs(), ",")
	if r := runWith(nil, "verify", "--brokers", brokers, "--topic", topic, "--tls-ca", ca, "--tls-cert", certFile, "--tls-key", keyFile); r.code != exitOK {
		t.Fatalf("mutual TLS with --tls-cert:\n%s", r)
	}
	cfg := writeTemp(t, "c.properties", fmt.Sprintf("security.protocol=SSL\nssl.truststore.location=%s\nssl.keystore.type=PEM\nssl.keystore.location=%s\n", ca, both))
	if r := runWith(nil, "verify", "--brokers", brokers, "--topic", topic, "--kafka-config", cfg); r.code != exitOK {
		t.Fatalf("mutual TLS with ssl.keystore.location:\n%s", r)
	}
	r := runWith(nil, "verify", "--brokers", brokers, "--topic", topic, "--tls-ca", ca, "--timeout", "2s")
	if r.code != exitFailure || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without a client certificate: want the TLS failure:\n%s", r)
	}
}

func clientCertificate(t *testing.T) (certPEM, keyPEM string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafkaes-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), cert
}

// TestRegistryCredentials: a password in --schema-registry never shows in
// the CLI's output; 401 answers say what to do; basic auth, bearer tokens
// and credentials from a config file reach the registry.
func TestRegistryCredentials(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error_code":40101,"message":"Unauthorized"}`)
	}))
	defer srv.Close()
	schema := writeTemp(t, "Deposited.avsc", `{"type":"record","name":"Deposited","namespace":"bank","fields":[{"name":"amount","type":"long"}]}`)
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(auths) == 0 {
			return ""
		}
		return auths[len(auths)-1]
	}
	withPW := strings.Replace(srv.URL, "://", "://bob:s3cr3t-pw@", 1)
	r := runWith(nil, "schema", "check", schema, "--schema-registry", withPW, "--topic", "bank-events")
	if r.code == exitOK || strings.Contains(r.stdout+r.stderr, "s3cr3t-pw") {
		t.Fatalf("registry password printed, or no failure:\n%s", r)
	}
	if !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "bank-events-bank.Deposited") {
		t.Errorf("a 401 must name the subject and say what to do:\n%s", r)
	}
	if got := last(); got != "Basic Ym9iOnMzY3IzdC1wdw==" {
		t.Errorf("URL credentials sent as %q", got)
	}
	runWith(map[string]string{"KAFKAES_SCHEMA_REGISTRY_PASSWORD": "pw"}, "schema", "check", schema, "--schema-registry", srv.URL, "--schema-registry-user", "bob")
	if got := last(); got != "Basic Ym9iOnB3" {
		t.Errorf("--schema-registry-user sent %q", got)
	}
	runWith(map[string]string{"KAFKAES_SCHEMA_REGISTRY_TOKEN": "tok"}, "schema", "check", schema, "--schema-registry", srv.URL)
	if got := last(); got != "Bearer tok" {
		t.Errorf("KAFKAES_SCHEMA_REGISTRY_TOKEN sent %q", got)
	}
	cfg := writeTemp(t, "c.properties", "schema.registry.url="+srv.URL+"\nbasic.auth.credentials.source=USER_INFO\nbasic.auth.user.info=carl:pw2\n")
	runWith(nil, "schema", "check", schema, "--kafka-config", cfg)
	if got := last(); got != "Basic Y2FybDpwdzI=" {
		t.Errorf("basic.auth.user.info sent %q", got)
	}
}

// TestSecureBrokerCLI runs the CLI against the secured broker of
// scripts/kafka-secure.sh with the application user's client.properties;
// wrong credentials and a disabled mechanism show the broker's reason.
func TestSecureBrokerCLI(t *testing.T) {
	c := kafkatest.RequireSecure(t)
	if c.Embedded {
		t.Skip("needs the TLS listener and the broker's SASL error answers of scripts/kafka-secure.sh (CI stage scripts/ci-kafka-secure.sh); " +
			"TestSCRAMAndConfigFile covers SCRAM and config files on the embedded broker")
	}
	topic := kafkatest.TopicName(t, "events-cli")
	c.CreateTopic(t, topic, 2, kafkatest.EventsTopicConfig())
	cfg := os.Getenv("KAFKAES_KAFKA_CONFIG")
	r := runWith(nil, "verify", "--kafka-config", cfg, "--topic", topic)
	if r.code != exitOK || !strings.Contains(r.stdout, "0 records in 2 partitions") {
		t.Fatalf("verify as the application user:\n%s", r)
	}
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wrongPW := writeTemp(t, "wrong.properties", strings.Replace(string(text), `password="`, `password="x`, 1))
	r = runWith(nil, "verify", "--kafka-config", wrongPW, "--topic", topic, "--timeout", "3s")
	if r.code != exitFailure || !strings.Contains(strings.ToLower(r.stderr), "sasl authentication failed") || strings.Count(r.stderr, "invalid credentials") != 1 {
		t.Errorf("wrong password: want the broker's SASL failure:\n%s", r)
	}
	plain := writeTemp(t, "plain.properties", strings.NewReplacer("SCRAM-SHA-512", "PLAIN",
		"org.apache.kafka.common.security.scram.ScramLoginModule", "org.apache.kafka.common.security.plain.PlainLoginModule").Replace(string(text)))
	r = runWith(nil, "verify", "--kafka-config", plain, "--topic", topic, "--timeout", "3s")
	if r.code != exitFailure || !strings.Contains(r.stderr, "PLAIN") || !strings.Contains(strings.ToLower(r.stderr), "mechanism") {
		t.Errorf("PLAIN on a SCRAM listener: want the broker's unsupported mechanism:\n%s", r)
	}
}
