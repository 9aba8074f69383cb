package connect

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Opts returns the franz-go options that connect to brokers as sarama
// clients configured by cfg do: the seed brokers, cfg's client id, and the TLS and SASL of cfg.Net (see [Apply]). A nil cfg means
// plaintext. It fails for a SASL mechanism franz-go cannot do here (GSSAPI).
func Opts(brokers []string, cfg *sarama.Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}
	if cfg == nil {
		return opts, nil
	}
	if cfg.ClientID != "" {
		opts = append(opts, kgo.ClientID(cfg.ClientID))
	}
	if cfg.Net.TLS.Enable {
		tc := cfg.Net.TLS.Config
		if tc == nil {
			opts = append(opts, kgo.DialTLS())
		} else {
			opts = append(opts, kgo.DialTLSConfig(tc.Clone()))
		}
	}
	if cfg.Net.SASL.Enable {
		m, err := mechanism(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// mechanism returns the franz-go SASL mechanism of cfg.Net.SASL.
func mechanism(cfg *sarama.Config) (sasl.Mechanism, error) {
	s := cfg.Net.SASL
	switch s.Mechanism {
	case "", sarama.SASLTypePlaintext:
		return plain.Auth{Zid: s.AuthIdentity, User: s.User, Pass: s.Password}.AsMechanism(), nil
	case sarama.SASLTypeSCRAMSHA256:
		return scram.Auth{Zid: s.SCRAMAuthzID, User: s.User, Pass: s.Password}.AsSha256Mechanism(), nil
	case sarama.SASLTypeSCRAMSHA512:
		return scram.Auth{Zid: s.SCRAMAuthzID, User: s.User, Pass: s.Password}.AsSha512Mechanism(), nil
	case sarama.SASLTypeOAuth:
		if s.TokenProvider == nil {
			return nil, fmt.Errorf("SASL OAUTHBEARER without a TokenProvider: %w", ErrSecurity)
		}
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			tok, err := s.TokenProvider.Token()
			if err != nil {
				return oauth.Auth{}, err
			}
			return oauth.Auth{Token: tok.Token, Extensions: tok.Extensions}, nil
		}), nil
	}
	return nil, fmt.Errorf("SASL mechanism %s: sluice's admin and lag clients speak %s and OAUTHBEARER: %w", s.Mechanism, "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", ErrSecurity)
}

// NewClient returns a franz-go client connected as [Opts] says, with extra
// options after those.
func NewClient(brokers []string, cfg *sarama.Config, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := Opts(brokers, cfg)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(opts, extra...)...)
}
