package kafkaconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// RFC 7677 section 3: the SCRAM-SHA-256 example conversation.
func TestSCRAMSHA256RFC7677(t *testing.T) {
	c := SCRAMClientGenerator(sarama.SASLTypeSCRAMSHA256)().(*scramClient)
	c.nonce = "rOprNGfwEbeRWgbNEkqO"
	require.NoError(t, c.Begin("user", "pencil", ""))
	first, err := c.Step("")
	require.NoError(t, err)
	require.Equal(t, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", first)
	final, err := c.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	require.NoError(t, err)
	require.Equal(t, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", final)
	require.False(t, c.Done())
	_, err = c.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.NoError(t, err)
	require.True(t, c.Done())

	// A server that does not know the password cannot sign.
	c2 := SCRAMClientGenerator(sarama.SASLTypeSCRAMSHA256)().(*scramClient)
	c2.nonce = "rOprNGfwEbeRWgbNEkqO"
	require.NoError(t, c2.Begin("user", "pencil", ""))
	_, _ = c2.Step("")
	_, _ = c2.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	_, err = c2.Step("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.ErrorContains(t, err, "does not know the password")
	require.Nil(t, SCRAMClientGenerator(sarama.SASLTypePlaintext))
}

func TestParseAndApplySCRAM(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte(testCA), 0o600))
	props := `# a comment
bootstrap.servers=127.0.0.1:9093, 127.0.0.1:9094
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
    username="app" password="s3 \\\"cr=t";
ssl.truststore.type=PEM
ssl.truststore.location=` + ca + "\n"
	p, err := ParseProperties(strings.NewReader(props))
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:9093", "127.0.0.1:9094"}, p.Brokers())
	cfg := sarama.NewConfig()
	require.NoError(t, p.Apply(cfg))
	require.True(t, cfg.Net.TLS.Enable)
	require.NotNil(t, cfg.Net.TLS.Config.RootCAs)
	require.True(t, cfg.Net.SASL.Enable)
	require.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA512), cfg.Net.SASL.Mechanism)
	require.Equal(t, "app", cfg.Net.SASL.User)
	require.Equal(t, `s3 "cr=t`, cfg.Net.SASL.Password)
	require.NotNil(t, cfg.Net.SASL.SCRAMClientGeneratorFunc)
	require.NoError(t, cfg.Validate())
}

func TestApplyRefusesWhatItCannotHonour(t *testing.T) {
	for name, tc := range map[string]struct{ props, want string }{
		"unknown key":      {"security.protocol=SSL\nssl.keystore.password=x\n", "ssl.keystore.password not supported"},
		"gssapi":           {"security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n", "GSSAPI"},
		"jks":              {"security.protocol=SSL\nssl.truststore.type=JKS\n", "keytool -exportcert"},
		"protocol":         {"security.protocol=TLS\n", "security.protocol=TLS"},
		"sasl without":     {"sasl.mechanism=PLAIN\n", "does not use SASL"},
		"oauth no token":   {"security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER\n", "sasl.oauthbearer.token"},
		"plain wrong jaas": {"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"a\" password=\"b\";\n", "needs the login module org.apache.kafka.common.security.plain.PlainLoginModule"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := ParseProperties(strings.NewReader(tc.props))
			require.NoError(t, err)
			err = p.Apply(sarama.NewConfig())
			require.ErrorContains(t, err, tc.want)
			if name != "plain wrong jaas" {
				require.True(t, errors.Is(err, ErrUnsupported), "%v", err)
			}
		})
	}
}

func TestApplyOAuthAndPlain(t *testing.T) {
	p := Properties{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.token": "tok"}
	cfg := sarama.NewConfig()
	require.NoError(t, p.Apply(cfg))
	tok, err := cfg.Net.SASL.TokenProvider.Token()
	require.NoError(t, err)
	require.Equal(t, "tok", tok.Token)

	p = Properties{"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";`}
	cfg = sarama.NewConfig()
	require.NoError(t, p.Apply(cfg))
	require.Equal(t, sarama.SASLMechanism(sarama.SASLTypePlaintext), cfg.Net.SASL.Mechanism)
	require.False(t, cfg.Net.TLS.Enable)
}

// testCA is a self-signed certificate (only parsed, never trusted).
const testCA = `-----BEGIN CERTIFICATE-----
MIIBeDCCAR2gAwIBAgIUXs/qokbs8ldGnD/HZgY0jPI8X+kwCgYIKoZIzj0EAwIw
ETEPMA0GA1UEAwwGdGVzdGNhMB4XDTI2MTIwMzA4MzUxMFoXDTM2MTEzMDA4MzUx
MFowETEPMA0GA1UEAwwGdGVzdGNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
kpmWIYprAjTpReBujgy2PijNiisEIl3U+8Cqm21JDyyjB9+DTBmyYwk81pBNJe+f
AcWQ8jIM7CwvD9PThopk46NTMFEwHQYDVR0OBBYEFPRbugvndUnnT5NjRP780dI0
HN30MB8GA1UdIwQYMBaAFPRbugvndUnnT5NjRP780dI0HN30MA8GA1UdEwEB/wQF
MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAJeHmN2lHCajLiOZy76V1renibPPhI2R
b92IHCmWh5GVAiEAxT2kw+QnzMtZ+Hvg1PpdQTdlyoHbSm8W/GiSaDNPdNc=
-----END CERTIFICATE-----
`
