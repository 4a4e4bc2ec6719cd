package kafkaconfig

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

// SCRAMClientGenerator returns the function sarama calls for a new SCRAM
// conversation (Config.Net.SASL.SCRAMClientGeneratorFunc) for mechanism
// sarama.SASLTypeSCRAMSHA256 or sarama.SASLTypeSCRAMSHA512, or nil for any
// other mechanism. The client implements RFC 5802 without channel binding,
// as Kafka does.
func SCRAMClientGenerator(mechanism sarama.SASLMechanism) func() sarama.SCRAMClient {
	var h func() hash.Hash
	switch mechanism {
	case sarama.SASLTypeSCRAMSHA256:
		h = sha256.New
	case sarama.SASLTypeSCRAMSHA512:
		h = sha512.New
	default:
		return nil
	}
	return func() sarama.SCRAMClient { return &scramClient{hash: h} }
}

// scramClient is one SCRAM conversation (RFC 5802, client side).
type scramClient struct {
	hash  func() hash.Hash
	nonce string // client nonce; tests set it

	user, password string
	step           int
	clientFirst    string // client-first-message-bare
	serverSig      []byte
	done           bool
}

func (c *scramClient) Begin(user, password, authzID string) error {
	if authzID != "" {
		return errors.New("kafkaconfig: SCRAM authorization IDs are not supported")
	}
	c.user, c.password, c.step, c.done = user, password, 0, false
	if c.nonce == "" {
		var b [24]byte
		_, _ = rand.Read(b[:])
		c.nonce = base64.RawStdEncoding.EncodeToString(b[:])
	}
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	c.step++
	switch c.step {
	case 1:
		c.clientFirst = "n=" + scramEscape(c.user) + ",r=" + c.nonce
		return "n,," + c.clientFirst, nil
	case 2:
		return c.final(challenge)
	case 3:
		c.done = true
		attrs := scramAttrs(challenge)
		if e, ok := attrs["e"]; ok {
			return "", fmt.Errorf("kafkaconfig: SCRAM: the broker refused the proof: %s", e)
		}
		v, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || !hmac.Equal(v, c.serverSig) {
			return "", errors.New("kafkaconfig: SCRAM: the broker's signature does not match; it does not know the password (a man in the middle?)")
		}
		return "", nil
	}
	return "", errors.New("kafkaconfig: SCRAM: unexpected extra challenge")
}

func (c *scramClient) final(serverFirst string) (string, error) {
	attrs := scramAttrs(serverFirst)
	if e, ok := attrs["e"]; ok {
		return "", fmt.Errorf("kafkaconfig: SCRAM: the broker refused: %s", e)
	}
	nonce, saltB64, iterS := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) {
		return "", errors.New("kafkaconfig: SCRAM: the broker's nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(saltB64)
	if err != nil {
		return "", fmt.Errorf("kafkaconfig: SCRAM: bad salt from the broker: %w", err)
	}
	iter, err := strconv.Atoi(iterS)
	if err != nil || iter < 1 {
		return "", fmt.Errorf("kafkaconfig: SCRAM: bad iteration count %q from the broker", iterS)
	}
	salted, err := pbkdf2.Key(c.hash, c.password, salt, iter, c.hash().Size())
	if err != nil {
		return "", fmt.Errorf("kafkaconfig: SCRAM: %w", err)
	}
	clientKey := c.hmac(salted, "Client Key")
	h := c.hash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	withoutProof := "c=biws,r=" + nonce // biws = base64("n,,")
	authMsg := c.clientFirst + "," + serverFirst + "," + withoutProof
	sig := c.hmac(storedKey, authMsg)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	c.serverSig = c.hmac(c.hmac(salted, "Server Key"), authMsg)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (c *scramClient) hmac(key []byte, msg string) []byte {
	m := hmac.New(c.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (c *scramClient) Done() bool { return c.done }

func scramEscape(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

func scramAttrs(msg string) map[string]string {
	m := map[string]string{}
	for part := range strings.SplitSeq(msg, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && len(k) == 1 {
			m[k] = v
		}
	}
	return m
}

// StaticToken returns an OAUTHBEARER token provider
// (Config.Net.SASL.TokenProvider) that always returns token. Use it for
// tokens issued out of band; it never refreshes them.
func StaticToken(token string) sarama.AccessTokenProvider { return staticToken(token) }

type staticToken string

func (t staticToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(t)}, nil
}
