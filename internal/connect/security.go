package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

// ErrSecurity is wrapped by [Apply] for a security setting that cannot work:
// an unknown protocol or mechanism, a missing user, an unreadable file.
var ErrSecurity = errors.New("bad security setting")

// Protocols are the values of [Security.Protocol] (librdkafka's
// security.protocol), and Mechanisms those of [Security.Mechanism]
// (sasl.mechanism).
var (
	Protocols  = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
	Mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
)

// Security is how clients reach a cluster: encryption and authentication,
// in librdkafka's terms. The zero value changes nothing: the connection is
// whatever the sarama configuration it is applied to says (plaintext, by
// sluice's defaults).
type Security struct {
	// Protocol is security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or
	// SASL_SSL. "" means PLAINTEXT, or SSL/SASL_SSL when a TLS file or TLS
	// is set, SASL_* when Mechanism is.
	Protocol string
	// Mechanism is sasl.mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	// "" means PLAIN when Protocol is SASL_*.
	Mechanism string
	// Username and Password are sasl.username and sasl.password.
	Username, Password string
	// CAFile is ssl.ca.location: the PEM certificates that sign the
	// brokers' certificates. "" trusts the system's roots.
	CAFile string
	// CertFile and KeyFile are ssl.certificate.location and
	// ssl.key.location: the client's PEM certificate and key, for brokers
	// that require one (mutual TLS).
	CertFile, KeyFile string
	// TLS, if set, is the TLS configuration to use instead of one built
	// from the files; it is cloned.
	TLS *tls.Config
}

// wantsTLS reports whether s asks for TLS.
func (s Security) wantsTLS() bool {
	switch s.Protocol {
	case "SSL", "SASL_SSL":
		return true
	case "":
		return s.TLS != nil || s.CAFile != "" || s.CertFile != "" || s.KeyFile != ""
	}
	return false
}

// wantsSASL reports whether s asks for SASL.
func (s Security) wantsSASL() bool {
	switch s.Protocol {
	case "SASL_PLAINTEXT", "SASL_SSL":
		return true
	case "":
		return s.Mechanism != "" || s.Username != ""
	}
	return false
}

// IsZero reports whether s sets nothing.
func (s Security) IsZero() bool {
	return s == Security{}
}

// Apply returns a clone of base with s in its Net.TLS and Net.SASL settings;
// with a zero s, base itself. It reads the certificate files now, and fails
// with [ErrSecurity] for a setting that cannot work. base must not be nil.
func Apply(base *sarama.Config, s Security) (*sarama.Config, error) {
	if s.IsZero() {
		return base, nil
	}
	if s.Protocol != "" && !slices.Contains(Protocols, s.Protocol) {
		return nil, fmt.Errorf("security protocol %q: want one of %s: %w", s.Protocol, strings.Join(Protocols, ", "), ErrSecurity)
	}
	cfg := *base
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = false, nil
	cfg.Net.SASL.Enable = false
	if s.wantsTLS() {
		tc, err := s.tlsConfig()
		if err != nil {
			return nil, err
		}
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	} else if s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.TLS != nil {
		return nil, fmt.Errorf("certificate files with security protocol %s, which has no TLS: use SSL or SASL_SSL: %w", s.Protocol, ErrSecurity)
	}
	if s.wantsSASL() {
		if err := s.sasl(&cfg); err != nil {
			return nil, err
		}
	} else if s.Mechanism != "" || s.Username != "" || s.Password != "" {
		return nil, fmt.Errorf("SASL settings with security protocol %s, which has no SASL: use SASL_PLAINTEXT or SASL_SSL: %w", s.Protocol, ErrSecurity)
	}
	return &cfg, nil
}

// tlsConfig returns s.TLS or the configuration its files describe.
func (s Security) tlsConfig() (*tls.Config, error) {
	if s.TLS != nil {
		return s.TLS.Clone(), nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA certificates (ssl.ca.location): %w: %w", err, ErrSecurity)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificates (ssl.ca.location) %s: no PEM certificate in the file: %w", s.CAFile, ErrSecurity)
		}
		tc.RootCAs = pool
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		return nil, fmt.Errorf("a client certificate needs both its certificate (ssl.certificate.location) and its key (ssl.key.location): %w", ErrSecurity)
	}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s and key %s: %w: %w", s.CertFile, s.KeyFile, err, ErrSecurity)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// sasl sets cfg's SASL settings from s.
func (s Security) sasl(cfg *sarama.Config) error {
	mech := s.Mechanism
	if mech == "" {
		mech = "PLAIN"
	}
	if !slices.Contains(Mechanisms, mech) {
		return fmt.Errorf("SASL mechanism %q: want one of %s: %w", mech, strings.Join(Mechanisms, ", "), ErrSecurity)
	}
	if s.Username == "" {
		return fmt.Errorf("SASL %s needs a user name (sasl.username): %w", mech, ErrSecurity)
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Version = sarama.SASLHandshakeV1 // Kafka 4 removed v0 (KIP-896)
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	cfg.Net.SASL.User, cfg.Net.SASL.Password = s.Username, s.Password
	cfg.Net.SASL.SCRAMClientGeneratorFunc = nil
	switch mech {
	case "SCRAM-SHA-256":
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha256) }
	case "SCRAM-SHA-512":
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return newSCRAM(sha512) }
	}
	return nil
}
