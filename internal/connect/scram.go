package connect

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// A hash of SCRAM (RFC 5802): SHA-256 or SHA-512.
type scramHash int

const (
	sha256 scramHash = iota
	sha512
)

// scramClient is sarama's SCRAMClient on franz-go's SCRAM implementation:
// sarama ships none, and sluice's franz-go clients authenticate with the
// same code.
type scramClient struct {
	hash  scramHash
	sess  sasl.Session
	first []byte // the client-first message, until Step("") takes it
	done  bool
}

var _ sarama.SCRAMClient = (*scramClient)(nil)

func newSCRAM(h scramHash) *scramClient { return &scramClient{hash: h} }

// Begin starts a session for user.
func (c *scramClient) Begin(user, password, authzID string) error {
	auth := scram.Auth{User: user, Pass: password, Zid: authzID}
	m := auth.AsSha256Mechanism()
	if c.hash == sha512 {
		m = auth.AsSha512Mechanism()
	}
	sess, first, err := m.Authenticate(context.Background(), "")
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	c.sess, c.first = sess, first
	return nil
}

// Step returns the client-first message for the empty challenge sarama
// starts with, and the answer to each server message after it.
func (c *scramClient) Step(challenge string) (string, error) {
	if c.first != nil {
		first := c.first
		c.first = nil
		return string(first), nil
	}
	done, msg, err := c.sess.Challenge([]byte(challenge))
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	c.done = done
	return string(msg), nil
}

// Done reports whether the server's final message was verified.
func (c *scramClient) Done() bool { return c.done }
