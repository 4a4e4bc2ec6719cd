package kafkaconfig

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

// ErrUnsupported is matched (errors.Is) by the errors for settings this
// package does not support: unknown keys, GSSAPI, JKS or PKCS12 stores,
// encrypted private keys.
var ErrUnsupported = errors.New("kafkaconfig: unsupported setting")

// Properties are Kafka client settings, key to value, as in a Kafka
// client.properties file. See the package documentation for the keys
// [Properties.Apply] supports.
type Properties map[string]string

// ReadProperties reads a client.properties file (Java properties syntax:
// key=value or key: value lines, # and ! comments, backslash line
// continuations).
func ReadProperties(path string) (Properties, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kafkaconfig: %w", err)
	}
	defer f.Close()
	p, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("kafkaconfig: %s: %w", path, err)
	}
	return p, nil
}

// ParseProperties parses client properties in Java properties syntax.
func ParseProperties(r io.Reader) (Properties, error) {
	p := Properties{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var cont strings.Builder
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if trailingBackslashes(line)%2 == 1 {
			cont.WriteString(line[:len(line)-1])
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		i := strings.IndexAny(full, "=:")
		if i < 0 {
			return nil, fmt.Errorf("line %d: %q is not key=value", n, full)
		}
		key := strings.TrimSpace(full[:i])
		p[key] = unescape(strings.TrimSpace(full[i+1:]))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func trailingBackslashes(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i == len(s)-1 {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// supportedKeys are the keys Apply understands.
var supportedKeys = []string{
	"bootstrap.servers", "client.id", "security.protocol", "sasl.mechanism", "sasl.jaas.config",
	"sasl.oauthbearer.token", "ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.certificates",
	"ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.certificate.chain", "ssl.keystore.key",
	"ssl.endpoint.identification.algorithm",
}

// Brokers returns the addresses of bootstrap.servers, or nil.
func (p Properties) Brokers() []string {
	var out []string
	for b := range strings.SplitSeq(p["bootstrap.servers"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Apply sets the client ID, TLS and SASL settings of cfg from p. It
// refuses keys it does not support (see the package documentation) with
// an error matching [ErrUnsupported], rather than ignoring a security
// setting. Files named in p are read now.
func (p Properties) Apply(cfg *sarama.Config) error {
	var unknown []string
	for k := range p {
		if !slices.Contains(supportedKeys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		hint := ""
		if slices.Contains(unknown, "ssl.key.password") || slices.Contains(unknown, "ssl.keystore.password") || slices.Contains(unknown, "ssl.truststore.password") {
			hint = "; passwords protect JKS/PKCS12 stores and encrypted keys, which are not supported: use PEM files with an unencrypted key (openssl pkcs8 -topk8 -nocrypt)"
		}
		return fmt.Errorf("%w: client properties %s not supported (supported: %s)%s",
			ErrUnsupported, strings.Join(unknown, ", "), strings.Join(supportedKeys, ", "), hint)
	}
	if id := p["client.id"]; id != "" {
		cfg.ClientID = id
	}
	proto := strings.ToUpper(strings.TrimSpace(p["security.protocol"]))
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch proto {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return fmt.Errorf("%w: security.protocol=%s; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", ErrUnsupported, proto)
	}
	if useTLS {
		tc, err := p.tlsConfig()
		if err != nil {
			return err
		}
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = tc
	} else if p.hasAny("ssl.") {
		return fmt.Errorf("%w: ssl.* settings are given but security.protocol=%s does not use TLS; set security.protocol=SSL or SASL_SSL", ErrUnsupported, proto)
	}
	if useSASL {
		return p.applySASL(cfg)
	}
	if p.hasAny("sasl.") {
		return fmt.Errorf("%w: sasl.* settings are given but security.protocol=%s does not use SASL; set security.protocol=SASL_SSL or SASL_PLAINTEXT", ErrUnsupported, proto)
	}
	return nil
}

func (p Properties) hasAny(prefix string) bool {
	for k, v := range p {
		if strings.HasPrefix(k, prefix) && v != "" && k != "ssl.endpoint.identification.algorithm" {
			return true
		}
	}
	return false
}

func (p Properties) applySASL(cfg *sarama.Config) error {
	module, opts, err := parseJAAS(p["sasl.jaas.config"])
	if err != nil {
		return err
	}
	mech := strings.ToUpper(strings.TrimSpace(p["sasl.mechanism"]))
	if mech == "" {
		switch {
		case strings.HasSuffix(module, ".PlainLoginModule"):
			mech = sarama.SASLTypePlaintext
		case strings.HasSuffix(module, ".OAuthBearerLoginModule") || p["sasl.oauthbearer.token"] != "":
			mech = sarama.SASLTypeOAuth
		default:
			return fmt.Errorf("%w: security.protocol is SASL but sasl.mechanism is not set; set it to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", ErrUnsupported)
		}
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	switch mech {
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		want := "org.apache.kafka.common.security.plain.PlainLoginModule"
		if mech != sarama.SASLTypePlaintext {
			want = "org.apache.kafka.common.security.scram.ScramLoginModule"
		}
		if module == "" {
			return fmt.Errorf("kafkaconfig: sasl.mechanism=%s needs sasl.jaas.config=%s required username=\"...\" password=\"...\";", mech, want)
		}
		if module != want {
			return fmt.Errorf("kafkaconfig: sasl.mechanism=%s needs the login module %s in sasl.jaas.config, not %s", mech, want, module)
		}
		if opts["username"] == "" || opts["password"] == "" {
			return fmt.Errorf("kafkaconfig: sasl.jaas.config for %s needs username=\"...\" and password=\"...\"", mech)
		}
		cfg.Net.SASL.User, cfg.Net.SASL.Password = opts["username"], opts["password"]
		cfg.Net.SASL.SCRAMClientGeneratorFunc = SCRAMClientGenerator(sarama.SASLMechanism(mech))
	case sarama.SASLTypeOAuth:
		tok := p["sasl.oauthbearer.token"]
		if tok == "" {
			return fmt.Errorf("%w: sasl.mechanism=OAUTHBEARER needs a static token in sasl.oauthbearer.token (token refresh through a callback handler is not supported)", ErrUnsupported)
		}
		cfg.Net.SASL.TokenProvider = StaticToken(tok)
	case "GSSAPI":
		return fmt.Errorf("%w: sasl.mechanism=GSSAPI (Kerberos); use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER, or configure sarama's GSSAPI yourself", ErrUnsupported)
	default:
		return fmt.Errorf("%w: sasl.mechanism=%s; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", ErrUnsupported, mech)
	}
	return nil
}

// parseJAAS reads `<module> <flag> key="value" ...;`.
func parseJAAS(s string) (module string, opts map[string]string, err error) {
	opts = map[string]string{}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", opts, nil
	}
	s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return "", nil, fmt.Errorf("kafkaconfig: sasl.jaas.config must read `<LoginModule> required key=\"value\" ...;`")
	}
	module = fields[0]
	rest := strings.TrimSpace(strings.TrimPrefix(s, module))
	flag, rest, _ := strings.Cut(rest, " ")
	switch flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, fmt.Errorf("kafkaconfig: sasl.jaas.config: expected a control flag (required) after %s, got %q", module, flag)
	}
	for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return "", nil, fmt.Errorf("kafkaconfig: sasl.jaas.config: expected key=\"value\" at %q", firstWord(rest))
		}
		k = strings.TrimSpace(k)
		v = strings.TrimLeft(v, " ")
		if strings.HasPrefix(v, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			if i >= len(v) {
				return "", nil, fmt.Errorf("kafkaconfig: sasl.jaas.config: unterminated quoted value of %s", k)
			}
			opts[k] = b.String()
			rest = v[i+1:]
		} else {
			w := firstWord(v)
			opts[k] = w
			rest = v[len(w):]
		}
	}
	return module, opts, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

func (p Properties) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch t := strings.ToUpper(p["ssl.truststore.type"]); t {
	case "", "PEM":
	case "JKS", "PKCS12":
		return nil, fmt.Errorf("%w: ssl.truststore.type=%s; convert it to PEM (keytool -exportcert -rfc -alias <ca> -keystore <file> -file ca.pem), then set ssl.truststore.type=PEM and ssl.truststore.location=ca.pem", ErrUnsupported, t)
	default:
		return nil, fmt.Errorf("%w: ssl.truststore.type=%s; use PEM", ErrUnsupported, t)
	}
	var caPEM []byte
	if loc := p["ssl.truststore.location"]; loc != "" {
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("kafkaconfig: ssl.truststore.location: %w", err)
		}
		caPEM = b
	}
	caPEM = append(caPEM, []byte("\n"+p["ssl.truststore.certificates"])...)
	if strings.TrimSpace(string(caPEM)) != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("kafkaconfig: ssl.truststore.location / ssl.truststore.certificates hold no PEM certificate")
		}
		tc.RootCAs = pool
	}
	switch t := strings.ToUpper(p["ssl.keystore.type"]); t {
	case "", "PEM":
	case "JKS", "PKCS12":
		return nil, fmt.Errorf("%w: ssl.keystore.type=%s; convert it to one PEM file holding the certificate chain and the unencrypted key (openssl pkcs12 -in <file.p12> -nodes -out client.pem), then set ssl.keystore.type=PEM and ssl.keystore.location=client.pem", ErrUnsupported, t)
	default:
		return nil, fmt.Errorf("%w: ssl.keystore.type=%s; use PEM", ErrUnsupported, t)
	}
	var keyPEM []byte
	if loc := p["ssl.keystore.location"]; loc != "" {
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, fmt.Errorf("kafkaconfig: ssl.keystore.location: %w", err)
		}
		keyPEM = b
	}
	if c, k := p["ssl.keystore.certificate.chain"], p["ssl.keystore.key"]; c != "" || k != "" {
		keyPEM = append(keyPEM, []byte("\n"+c+"\n"+k)...)
	}
	if len(keyPEM) > 0 {
		cert, err := keyPair(keyPEM)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	switch alg := strings.ToLower(strings.TrimSpace(p["ssl.endpoint.identification.algorithm"])); alg {
	case "https":
	case "":
		if _, set := p["ssl.endpoint.identification.algorithm"]; set {
			verifyChainOnly(tc)
		}
	default:
		return nil, fmt.Errorf("%w: ssl.endpoint.identification.algorithm=%s; use https or leave it empty", ErrUnsupported, alg)
	}
	return tc, nil
}

// keyPair splits a PEM bundle into certificates and a private key.
func keyPair(bundle []byte) (tls.Certificate, error) {
	var certs, key []byte
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, pem.EncodeToMemory(b)...)
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return tls.Certificate{}, fmt.Errorf("%w: the client key in ssl.keystore is encrypted; decrypt it (openssl pkcs8 -topk8 -nocrypt -in key.pem -out plain.pem) and protect the file instead", ErrUnsupported)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			key = pem.EncodeToMemory(b)
		}
	}
	if certs == nil || key == nil {
		return tls.Certificate{}, errors.New("kafkaconfig: ssl.keystore needs both a CERTIFICATE and a PRIVATE KEY PEM block")
	}
	cert, err := tls.X509KeyPair(certs, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("kafkaconfig: ssl.keystore: %w", err)
	}
	return cert, nil
}

// verifyChainOnly makes tc verify the broker's chain against its roots
// without checking the host name (ssl.endpoint.identification.algorithm=).
func verifyChainOnly(tc *tls.Config) {
	roots := tc.RootCAs
	tc.InsecureSkipVerify = true //nolint:gosec // the chain is verified below
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("kafkaconfig: the broker sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
}

// Diagnose connects to each broker in addrs with cfg and returns the first
// broker's own error (a TLS handshake failure, "SASL authentication
// failed", an unsupported SASL mechanism), or nil when a broker answers a
// Metadata request. sarama.NewClient reports only "client has run out of
// available brokers to talk to" when every broker fails; call Diagnose
// after it to tell the user why.
func Diagnose(addrs []string, cfg *sarama.Config) error {
	var first error
	for _, addr := range addrs {
		b := sarama.NewBroker(addr)
		err := b.Open(cfg)
		if err == nil {
			_, err = b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, nil))
		}
		_ = b.Close()
		if err == nil {
			return nil
		}
		if first == nil {
			if errors.Is(err, sarama.ErrUnsupportedSASLMechanism) {
				err = fmt.Errorf("%w (the client asked for %s; use a mechanism the listener enables, see sasl.enabled.mechanisms on the broker)", err, cfg.Net.SASL.Mechanism)
			}
			first = fmt.Errorf("broker %s: %w", addr, err)
		}
	}
	return first
}

// Explain returns err, the error of sarama.NewClient(addrs, cfg), with the
// broker's own reason from [Diagnose] added when err does not already
// carry it. It returns err unchanged when err is nil or no broker tells
// more.
func Explain(err error, addrs []string, cfg *sarama.Config) error {
	if err == nil {
		return nil
	}
	cause := Diagnose(addrs, cfg)
	if cause == nil || strings.Contains(err.Error(), errors.Unwrap(cause).Error()) {
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}
