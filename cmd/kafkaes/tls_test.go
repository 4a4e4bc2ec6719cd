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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// selfSigned returns a TLS certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafkaes-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestTLSAndSASL runs verify against an embedded broker that only speaks
// TLS with SASL/PLAIN.
func TestTLSAndSASL(t *testing.T) {
	cert, caPEM := selfSigned(t)
	topic := "events-tls"
	fake, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "ada", "s3cret"),
		kfake.SeedTopics(2, topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "--brokers=" + strings.Join(fake.ListenAddrs(), ",")
	run := func(password string, args ...string) result {
		var out, errOut bytes.Buffer
		env := map[string]string{"KAFKAES_SASL_PASSWORD": password}
		code := runEnv(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
		return result{code, out.String(), errOut.String()}
	}
	r := run("s3cret", "verify", addr, "--topic", topic, "--tls-ca", ca, "--sasl-user", "ada")
	if r.code != exitOK || !strings.Contains(r.stdout, "0 records in 2 partitions") {
		t.Fatalf("verify over TLS + SASL/PLAIN:\n%s", r)
	}
	if r := run("wrong", "verify", addr, "--topic", topic, "--tls-ca", ca, "--sasl-user", "ada", "--timeout", "2s"); r.code != exitFailure || !strings.Contains(r.stderr, "cannot reach the Kafka cluster") {
		t.Errorf("wrong password accepted:\n%s", r)
	}
	if r := run("s3cret", "verify", addr, "--topic", topic, "--tls", "--sasl-user", "ada", "--timeout", "2s"); r.code != exitFailure || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("a certificate from an unknown CA was accepted:\n%s", r)
	}
}
