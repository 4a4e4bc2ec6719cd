package kafkaconfig

import (
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// SCRAMClientGenerator returns the function sarama calls for a new SCRAM
// conversation (Config.Net.SASL.SCRAMClientGeneratorFunc) for mechanism
// sarama.SASLTypeSCRAMSHA256 or sarama.SASLTypeSCRAMSHA512, or nil for any
// other mechanism. The conversation is github.com/xdg-go/scram's RFC 5802
// client (SASLprep of user name and password, no channel binding, as
// Kafka does); it checks the broker's final signature, so a server that
// does not know the password is refused.
func SCRAMClientGenerator(mechanism sarama.SASLMechanism) func() sarama.SCRAMClient {
	var h scram.HashGeneratorFcn
	switch mechanism {
	case sarama.SASLTypeSCRAMSHA256:
		h = scram.SHA256
	case sarama.SASLTypeSCRAMSHA512:
		h = scram.SHA512
	default:
		return nil
	}
	return func() sarama.SCRAMClient { return &scramClient{hash: h} }
}

// scramClient adapts an xdg-go/scram conversation to sarama.SCRAMClient.
type scramClient struct {
	hash  scram.HashGeneratorFcn
	nonce string // client nonce; tests set it, empty means random
	conv  *scram.ClientConversation
}

// Begin starts a conversation for user and password. Authorization IDs
// are refused: Kafka does not support them.
func (c *scramClient) Begin(user, password, authzID string) error {
	if authzID != "" {
		return errors.New("kafkaconfig: SCRAM authorization IDs are not supported")
	}
	cl, err := c.hash.NewClient(user, password, "")
	if err != nil {
		return fmt.Errorf("kafkaconfig: SCRAM: the user name or password cannot be prepared (SASLprep, RFC 4013): %w", err)
	}
	if c.nonce != "" {
		n := c.nonce
		cl = cl.WithNonceGenerator(func() string { return n })
	}
	c.conv = cl.NewConversation()
	return nil
}

// Step answers the broker's challenge (empty for the first message).
func (c *scramClient) Step(challenge string) (string, error) {
	if c.conv == nil {
		return "", errors.New("kafkaconfig: SCRAM: Step before Begin")
	}
	resp, err := c.conv.Step(challenge)
	if err != nil {
		if strings.HasPrefix(challenge, "v=") || strings.HasPrefix(challenge, "e=") {
			return "", fmt.Errorf("kafkaconfig: SCRAM: the broker's final message was refused (%w): a broker whose signature does not match does not know the password (a man in the middle?)", err)
		}
		return "", fmt.Errorf("kafkaconfig: SCRAM: %w", err)
	}
	return resp, nil
}

// Done reports whether the conversation ended, successfully or not.
func (c *scramClient) Done() bool { return c.conv != nil && c.conv.Done() }

// StaticToken returns an OAUTHBEARER token provider
// (Config.Net.SASL.TokenProvider) that always returns token. Use it for
// tokens issued out of band; it never refreshes them.
func StaticToken(token string) sarama.AccessTokenProvider { return staticToken(token) }

type staticToken string

func (t staticToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(t)}, nil
}
