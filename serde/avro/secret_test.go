package avro_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/stretchr/testify/require"

	"github.com/kafkaes/kafkaes/eventstore/observe"
	"github.com/kafkaes/kafkaes/serde"
	"github.com/kafkaes/kafkaes/serde/avro"
)

const secretPW = "s3cr3t-pw"

// fakeRegistry answers every request with status and body, and records
// the Authorization headers it got.
type fakeRegistry struct {
	status int
	body   string
	mu     sync.Mutex
	auth   []string
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	fmt.Fprint(w, f.body)
}

func withPassword(url string) string {
	return strings.Replace(url, "://", "://bob:"+secretPW+"@", 1)
}

// TestRegistryPasswordNeverShown: a password in the registry URL appears
// in no error and no log line of the log observer, whether the client
// comes from avro.NewClient or was built by the user with srclient.
func TestRegistryPasswordNeverShown(t *testing.T) {
	ctx := context.Background()
	for name, answer := range map[string]struct {
		status int
		body   string
	}{
		"unknown schema ID": {status: 404, body: `{"error_code":40403,"message":"Schema not found"}`},
		"not a registry":    {status: 404, body: `{"detail":"no such page"}`},
		"unauthorized":      {status: 401, body: `{"error_code":40101,"message":"Unauthorized"}`},
		"server error":      {status: 500, body: `{"error_code":50001,"message":"boom"}`},
		"status line only":  {status: 403, body: `forbidden`},
	} {
		for _, how := range []string{"NewClient", "srclient"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				f := &fakeRegistry{status: answer.status, body: answer.body}
				srv := httptest.NewServer(f)
				defer srv.Close()
				url := withPassword(srv.URL)
				var client srclient.ISchemaRegistryClient = avro.NewClient(url, time.Second)
				if how == "srclient" {
					client = srclient.NewSchemaRegistryClient(url)
				}
				var logs bytes.Buffer
				reg := serde.NewRegistry()
				serde.MustRegister[ObsEvent](reg, "test.ObsEvent")
				s, err := avro.New(ctx, reg, client, "secret-topic", avro.WithRetry(2, time.Millisecond),
					avro.WithObserver(observe.Logger(slog.New(slog.NewTextHandler(&logs, nil)))))
				if err != nil {
					// New's probe (GET /config) fails on wrong
					// credentials, on a server that is not a registry
					// and on one that does not answer; 403 and
					// registry error codes pass it.
					require.NotContains(t, err.Error(), secretPW)
					require.NotContains(t, logs.String(), secretPW)
					require.Contains(t, []int{401, 404, 500}, f.status, "New failed on %v", err)
					if f.status == 401 {
						require.ErrorIs(t, err, avro.ErrRegistryUnauthorized)
						require.Contains(t, err.Error(), "HTTP 401")
					}
					if f.status == 500 {
						require.ErrorIs(t, err, avro.ErrRegistryUnavailable)
					}
					return
				}
				require.NotEqual(t, 401, f.status, "New accepted a registry that refuses the credentials")
				_, err = s.Unmarshal(ctx, "test.ObsEvent", []byte{0, 0, 0, 0, 7, 2})
				require.Error(t, err)
				perr := s.Prepare(ctx)
				require.Error(t, perr)
				for _, text := range []string{err.Error(), perr.Error(), logs.String()} {
					require.NotContains(t, text, secretPW)
				}
				require.NotEmpty(t, logs.String(), "the log observer logged the failures")
				if f.status == 401 || f.status == 403 {
					require.ErrorIs(t, perr, avro.ErrRegistryUnauthorized)
					msg := perr.Error()
					require.Contains(t, msg, "secret-topic-test.ObsEvent", "names the subject")
					if how == "srclient" {
						require.Contains(t, msg, "bob:xxxxx@127.0.0.1", "names the URL, password redacted")
					} else {
						require.Contains(t, msg, "http://127.0.0.1", "names the URL (NewClient took the credentials out of it)")
					}
					require.Contains(t, msg, fmt.Sprintf("HTTP %d", f.status))
				}
			})
		}
	}
}

func TestRedactURL(t *testing.T) {
	require.Equal(t, "https://bob:xxxxx@reg:8081/api", avro.RedactURL("https://bob:pw@reg:8081/api"))
	require.Equal(t, "https://reg:8081", avro.RedactURL("https://reg:8081"))
	require.Equal(t, "http://xxxxx@re g", avro.RedactURL("http://bob:p%zz@re g"))
}

// TestNewClientCredentials: basic auth and bearer tokens reach the
// registry; credentials in the URL are sent as basic auth and removed from
// the client's URL.
func TestNewClientCredentials(t *testing.T) {
	f := &fakeRegistry{status: 200, body: `{"subject":"s","version":1,"id":3,"schema":"\"string\""}`}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, c := range []struct {
		client *srclient.SchemaRegistryClient
		want   string
	}{
		{avro.NewClient(srv.URL, time.Second, avro.WithBasicAuth("bob", "pw")), "Basic Ym9iOnB3"},
		{avro.NewClient(withPassword(srv.URL), time.Second), "Basic Ym9iOnMzY3IzdC1wdw=="},
		{avro.NewClient(srv.URL, time.Second, avro.WithBearerToken("tok")), "Bearer tok"},
		{avro.NewClient(srv.URL, time.Second), ""},
	} {
		require.NotContains(t, c.client.GetSchemaRegistryURL(), secretPW)
		_, err := c.client.GetLatestSchema("s")
		require.NoError(t, err)
		f.mu.Lock()
		got := f.auth[len(f.auth)-1]
		f.mu.Unlock()
		require.Equal(t, c.want, got)
	}
}

// TestNewClientTLS: a registry behind HTTPS with a private CA is reached
// with WithTLSConfig, and refused without it.
func TestNewClientTLS(t *testing.T) {
	f := &fakeRegistry{status: 200, body: `{"subject":"s","version":1,"id":3,"schema":"\"string\""}`}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	_, err := avro.NewClient(srv.URL, time.Second, avro.WithTLSConfig(&tls.Config{RootCAs: pool})).GetLatestSchema("s")
	require.NoError(t, err)
	_, err = avro.NewClient(srv.URL, time.Second).GetLatestSchema("s")
	var uerr x509.UnknownAuthorityError
	require.True(t, errors.As(err, &uerr), "without the CA: %v", err)
}
