package avro

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riferrei/srclient"

	"github.com/kafkaes/kafkaes/eventstore/observe"
)

// NewClient returns a srclient Schema Registry client for url (for
// example "http://127.0.0.1:8081") with a per-request HTTP timeout
// (default 10s when timeout <= 0) and the given options (TLS, basic auth,
// bearer token). The serde keeps its own caches, so the client's are not
// used.
//
// Credentials in the URL (https://user:password@host) are taken out of it
// and sent as basic auth, so that the client's URL, which errors and logs
// show, holds no secret; [WithBasicAuth] and [WithBearerToken] are better
// still, as the URL then never holds one.
func NewClient(url string, timeout time.Duration, opts ...ClientOption) *srclient.SchemaRegistryClient {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var o clientOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	url = strings.TrimSuffix(url, "/")
	if u, err := neturl.Parse(url); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && o.user == "" && o.token == "" {
			o.user, o.password = u.User.Username(), pw
		}
		u.User = nil
		url = u.String()
	}
	hc := &http.Client{Timeout: timeout}
	if o.tls != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = o.tls.Clone()
		hc.Transport = tr
	}
	c := srclient.NewSchemaRegistryClient(url, srclient.WithClient(hc))
	switch {
	case o.user != "":
		c.SetCredentials(o.user, o.password)
	case o.token != "":
		c.SetBearerToken(o.token)
	}
	c.CachingEnabled(false)
	c.CodecCreationEnabled(false)
	return c
}

// ClientOption configures [NewClient].
type ClientOption func(*clientOptions)

type clientOptions struct {
	tls                   *tls.Config
	user, password, token string
}

// WithTLSConfig makes the client use tc for HTTPS (a private CA in
// RootCAs, a client certificate in Certificates). The default is Go's
// default: the system's roots, no client certificate.
func WithTLSConfig(tc *tls.Config) ClientOption { return func(o *clientOptions) { o.tls = tc } }

// WithBasicAuth makes the client send HTTP basic auth with user and
// password on every request (Confluent's API keys are basic auth too).
// The default sends no credentials.
func WithBasicAuth(user, password string) ClientOption {
	return func(o *clientOptions) { o.user, o.password, o.token = user, password, "" }
}

// WithBearerToken makes the client send "Authorization: Bearer <token>"
// on every request. The default sends no credentials.
func WithBearerToken(token string) ClientOption {
	return func(o *clientOptions) { o.token, o.user, o.password = token, "", "" }
}

// RedactURL returns rawURL with the password of its user info replaced by
// "xxxxx" (as net/url's URL.Redacted does); a URL that does not parse is
// returned without anything between "//" and "@". Use it for every
// registry URL that goes into a message.
func RedactURL(rawURL string) string {
	u, err := neturl.Parse(rawURL)
	if err == nil {
		return u.Redacted()
	}
	if i := strings.Index(rawURL, "//"); i >= 0 {
		if j := strings.LastIndex(rawURL[i+2:], "@"); j >= 0 {
			return rawURL[:i+2] + "xxxxx@" + rawURL[i+2+j+1:]
		}
	}
	return rawURL
}

// registryClient wraps srclient with context deadlines, retries with
// exponential backoff and error classification. srclient's calls take no
// context, so each attempt runs in a goroutine and the caller stops
// waiting when ctx is done (the HTTP request itself ends at the client's
// timeout).
type registryClient struct {
	c        srclient.ISchemaRegistryClient
	attempts int
	backoff  time.Duration
	obs      observe.RegistryObserver // nil: not observed
}

// schemaInfo is a schema as stored in the registry.
type schemaInfo struct {
	id      int
	version int
	text    string
	avro    bool
	refs    []srclient.Reference
}

func toInfo(s *srclient.Schema) schemaInfo {
	t := s.SchemaType()
	return schemaInfo{id: s.ID(), version: s.Version(), text: s.Schema(), avro: t == nil || *t == srclient.Avro || *t == "AVRO", refs: s.References()}
}

// registryCode returns the Schema Registry error_code of err, or 0.
func registryCode(err error) int {
	var se srclient.Error
	if errors.As(err, &se) {
		return se.Code
	}
	var sp *srclient.Error
	if errors.As(err, &sp) && sp != nil {
		return sp.Code
	}
	return 0
}

// permanent reports whether err is an answer from the registry that a
// retry will not change (4xx).
func permanent(err error) bool {
	code := registryCode(err)
	if code == 0 {
		return false
	}
	if code >= 1000 {
		code /= 100
	}
	return code >= 400 && code < 500
}

// notRegistryAnswer reports whether err is an HTTP error answer with a
// JSON body that is not a Schema Registry error (no error_code): a web
// server that is not the registry's API, typically a registry URL without
// its API path. Retrying cannot help.
func notRegistryAnswer(err error) bool {
	var se srclient.Error
	if errors.As(err, &se) {
		return se.Code == 0
	}
	var sp *srclient.Error
	return errors.As(err, &sp) && sp != nil && sp.Code == 0
}

// call runs fn with retries. op names the operation in errors.
func (r *registryClient) call(ctx context.Context, op string, fn func() error) error {
	if r.obs != nil {
		return r.observedCall(ctx, op, fn)
	}
	return r.callRetrying(ctx, op, fn)
}

func (r *registryClient) callRetrying(ctx context.Context, op string, fn func() error) error {
	var last error
	for attempt := 0; attempt < r.attempts; attempt++ {
		if attempt > 0 {
			d := r.backoff << (attempt - 1)
			d = d/2 + rand.N(d/2+1)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w: %s: %v (last error: %v)", ErrRegistryUnavailable, op, ctx.Err(), last)
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrRegistryUnavailable, op, err)
		}
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrRegistryUnavailable, op, ctx.Err())
		case err := <-done:
			if err == nil {
				return nil
			}
			if refused := r.refused(op, err); refused != nil {
				return refused
			}
			if permanent(err) {
				return err
			}
			if notRegistryAnswer(err) {
				return fmt.Errorf("avro: %s: %s did not answer as a Schema Registry (%w); check that the URL is the base of the Confluent Schema Registry API (for Apicurio Registry it ends in /apis/ccompat/v7)", op, r.url(), err)
			}
			last = err
		}
	}
	return fmt.Errorf("%w: %s at %s failed %d times, last error: %v; check that the registry URL is right and the registry is up", ErrRegistryUnavailable, op, r.url(), r.attempts, last)
}

// url returns the registry's URL for messages, its password redacted.
func (r *registryClient) url() string { return RedactURL(r.c.GetSchemaRegistryURL()) }

// refused returns an error matching [ErrRegistryUnauthorized] when err is
// a 401 or 403 answer, else nil.
func (r *registryClient) refused(op string, err error) error {
	switch httpStatus(err) {
	case 401:
		return fmt.Errorf("%w: %s at %s: HTTP 401 (%v): the registry wants credentials or did not accept them; "+
			"pass avro.WithBasicAuth(user, password) or avro.WithBearerToken(token) to avro.NewClient, and check them", ErrRegistryUnauthorized, op, r.url(), err)
	case 403:
		return fmt.Errorf("%w: %s at %s: HTTP 403 (%v): the credentials are valid but lack the permission for this operation; "+
			"grant the registry principal read (and, to register schemas, write) access to the subject, or register the schemas from the deployment pipeline and use avro.UseRegisteredOnly", ErrRegistryUnauthorized, op, r.url(), err)
	}
	return nil
}

func (r *registryClient) schemaByID(ctx context.Context, id int) (schemaInfo, error) {
	var s *srclient.Schema
	err := r.call(ctx, fmt.Sprintf("get schema ID %d", id), func() (err error) {
		s, err = r.c.GetSchema(id)
		return err
	})
	if err != nil {
		if c := registryCode(err); c == 40403 || c == 404 {
			return schemaInfo{}, fmt.Errorf("%w: %d is not in registry %s; the payload was written against another registry or the schema was deleted: %v", ErrUnknownSchemaID, id, r.url(), err)
		}
		return schemaInfo{}, err
	}
	return toInfo(s), nil
}

func (r *registryClient) register(ctx context.Context, subject, text string) (schemaInfo, error) {
	var s *srclient.Schema
	err := r.call(ctx, "register schema under subject "+subject, func() (err error) {
		s, err = r.c.CreateSchema(subject, text, srclient.Avro)
		return err
	})
	if err != nil {
		if c := registryCode(err); c == 409 || c == 40901 {
			return schemaInfo{}, &IncompatibleError{Subject: subject, Level: "registry", Direction: "checked by the registry", Path: "schema", Rule: err.Error()}
		}
		return schemaInfo{}, fmt.Errorf("avro: register schema under subject %s: %w", subject, err)
	}
	return toInfo(s), nil
}

func (r *registryClient) lookup(ctx context.Context, subject, text string) (schemaInfo, error) {
	var s *srclient.Schema
	err := r.call(ctx, "look up schema under subject "+subject, func() (err error) {
		s, err = r.c.LookupSchema(subject, text, srclient.Avro)
		return err
	})
	if err != nil {
		if c := registryCode(err); c == 40401 || c == 40403 || c == 404 {
			return schemaInfo{}, fmt.Errorf("%w: subject %s has no version with this schema (%v); register it before deploying this code, or use AutoRegister in development. Schema: %s", ErrSchemaNotRegistered, subject, err, text)
		}
		return schemaInfo{}, err
	}
	return toInfo(s), nil
}

func (r *registryClient) latest(ctx context.Context, subject string) (schemaInfo, error) {
	var s *srclient.Schema
	err := r.call(ctx, "get latest schema of subject "+subject, func() (err error) {
		s, err = r.c.GetLatestSchema(subject)
		return err
	})
	if err != nil {
		if c := registryCode(err); c == 40401 || c == 40402 || c == 404 {
			return schemaInfo{}, fmt.Errorf("%w: subject %s has no schema (%v); register one before using UseLatest", ErrSchemaNotRegistered, subject, err)
		}
		return schemaInfo{}, err
	}
	return toInfo(s), nil
}

// versions returns all schema texts of subject, oldest first (none if
// the subject does not exist).
func (r *registryClient) versions(ctx context.Context, subject string) ([]string, error) {
	var vs []int
	err := r.call(ctx, "list versions of subject "+subject, func() (err error) {
		vs, err = r.c.GetSchemaVersions(subject)
		return err
	})
	if err != nil {
		if c := registryCode(err); c == 40401 || c == 404 {
			return nil, nil
		}
		return nil, err
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		var s *srclient.Schema
		err := r.call(ctx, fmt.Sprintf("get version %d of subject %s", v, subject), func() (err error) {
			s, err = r.c.GetSchemaByVersion(subject, v)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, s.Schema())
	}
	return out, nil
}

// ping asks the registry for its global compatibility level, to learn at
// construction that the URL, the credentials and the network are right.
// An answer that proves a registry is there and took the credentials will
// do: the level, a registry error code (a registry without a global level
// answers 404 with one), or 403 (the credentials are valid; the principal
// may only lack the right to read the global configuration). Errors: a
// 401 (wrong or missing credentials), an answer that is not a registry's
// (a URL without the API path), and no answer at all after the retries.
func (r *registryClient) ping(ctx context.Context) error {
	return r.call(ctx, "reach the registry (GET /config)", func() error {
		_, err := r.c.GetGlobalCompatibilityLevel()
		if err == nil || httpStatus(err) == 403 || (registryCode(err) != 0 && permanent(err) && httpStatus(err) != 401) {
			return nil
		}
		return err
	})
}

// httpStatus returns the HTTP status of a registry answer, from its error
// code (40101 -> 401) or, for an answer without a JSON body, the status
// line srclient gives, or 0.
func httpStatus(err error) int {
	code := registryCode(err)
	if code >= 1000 {
		code /= 100
	}
	if code == 0 {
		s := err.Error()
		if len(s) > 4 && s[3] == ' ' {
			if n, convErr := strconv.Atoi(s[:3]); convErr == nil {
				code = n
			}
		}
	}
	return code
}

// level returns the subject's compatibility level (falling back to the
// global one, and to BACKWARD, the registry default, when the registry
// has neither for the subject).
func (r *registryClient) level(ctx context.Context, subject string) (Compatibility, error) {
	var lv *srclient.CompatibilityLevel
	err := r.call(ctx, "get compatibility level of subject "+subject, func() (err error) {
		lv, err = r.c.GetCompatibilityLevel(subject, true)
		return err
	})
	if err != nil {
		// No level of its own and none to default to (Apicurio answers
		// 40401 for a subject that has no version yet; Confluent 40408
		// without defaultToGlobal): the registry default, BACKWARD. Other
		// refusals (authorization, ...) are errors, not a level.
		if c := registryCode(err); c == 404 || c/100 == 404 {
			return Backward, nil
		}
		return "", fmt.Errorf("avro: get compatibility level of subject %s: %w", subject, err)
	}
	if lv == nil || *lv == "" {
		return Backward, nil
	}
	return Compatibility(*lv), nil
}
