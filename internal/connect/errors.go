package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrAuthentication is wrapped by [Check] when the cluster refused the
// client's SASL credentials or mechanism: retrying cannot help.
var ErrAuthentication = errors.New("SASL authentication failed")

// ErrTLS is wrapped by [Check] when a TLS handshake with a broker failed
// for a reason retrying cannot fix: the broker's certificate is not
// trusted, the broker refused the client's certificate (or the lack of
// one), or the broker does not speak TLS.
var ErrTLS = errors.New("TLS handshake failed")

// Check returns err wrapped with [ErrAuthentication] or [ErrTLS], and a
// message that says what to fix, when err (from a sarama or franz-go
// client) is a refused credential or certificate; otherwise err. nil stays
// nil.
func Check(err error) error {
	if err == nil || errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTLS) {
		return err
	}
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		op      *net.OpError
		header  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		return fmt.Errorf("%w: the broker refused the user name or password: %w", ErrAuthentication, err)
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return fmt.Errorf("%w: the broker does not enable this SASL mechanism: %w", ErrAuthentication, err)
	case errors.Is(err, kerr.IllegalSaslState), errors.Is(err, sarama.ErrIllegalSASLState):
		return fmt.Errorf("%w: the broker's listener does not expect SASL here: %w", ErrAuthentication, err)
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid):
		return fmt.Errorf("%w: the broker's certificate is not trusted: %w", ErrTLS, err)
	case errors.As(err, &op) && op.Op == "remote error": // a TLS alert from the broker
		return fmt.Errorf("%w: the broker refused the handshake (a client certificate it does not accept, or none): %w", ErrTLS, err)
	case errors.As(err, &header):
		return fmt.Errorf("%w: the broker does not speak TLS on this port: %w", ErrTLS, err)
	}
	return err
}
