package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/topology"
)

// SecurityFlags are the flags that say how to reach a secured cluster,
// named after librdkafka's properties: --security-protocol,
// --sasl-mechanism, --sasl-username, --sasl-password (or
// --sasl-password-file), --ssl-ca-location, --ssl-certificate-location and
// --ssl-key-location. Each is also read from SLUICE_ and its name in upper
// case (SLUICE_SASL_PASSWORD, ...) when the command line leaves it unset:
// give the password that way or in a file, as --sasl-password shows in ps.
// run, topics and lag have them; examples with commands of their own
// declare them with [SecurityFlags.AddFlags].
type SecurityFlags struct {
	fs                           *pflag.FlagSet
	protocol, mechanism          string
	username, password, passFile string
	caFile, certFile, keyFile    string
}

// securityFlagNames are the flags of [SecurityFlags], for its environment.
var securityFlagNames = []string{
	"security-protocol", "sasl-mechanism", "sasl-username", "sasl-password", "sasl-password-file",
	"ssl-ca-location", "ssl-certificate-location", "ssl-key-location",
}

// AddFlags declares the security flags on c.
func (s *SecurityFlags) AddFlags(c *cobra.Command) { s.add(c.Flags()) }

func (s *SecurityFlags) add(fs *pflag.FlagSet) {
	s.fs = fs
	fs.StringVar(&s.protocol, "security-protocol", "",
		"security.protocol of the cluster: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: PLAINTEXT, or SSL/SASL_* as the other flags imply)")
	fs.StringVar(&s.mechanism, "sasl-mechanism", "",
		"sasl.mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default PLAIN with SASL)")
	fs.StringVar(&s.username, "sasl-username", "", "sasl.username")
	fs.StringVar(&s.password, "sasl-password", "",
		"sasl.password; visible in ps: prefer SLUICE_SASL_PASSWORD or --sasl-password-file")
	fs.StringVar(&s.passFile, "sasl-password-file", "", "read sasl.password from `FILE` (its first line)")
	fs.StringVar(&s.caFile, "ssl-ca-location", "", "ssl.ca.location: PEM `FILE` of the CAs of the brokers' certificates (default: the system's)")
	fs.StringVar(&s.certFile, "ssl-certificate-location", "", "ssl.certificate.location: the client's PEM certificate `FILE`, for mutual TLS")
	fs.StringVar(&s.keyFile, "ssl-key-location", "", "ssl.key.location: the client's PEM key `FILE`, for mutual TLS")
}

// set reports whether any security flag is set.
func (s *SecurityFlags) set() bool {
	return s.protocol != "" || s.mechanism != "" || s.username != "" || s.password != "" || s.passFile != "" ||
		s.caFile != "" || s.certFile != "" || s.keyFile != ""
}

// Option returns the [topology.WithSecurity] option the flags describe, and
// nil when none is set. It reads the flags' environment variables for those
// the command line left unset, and the password file; it checks the
// setting, reading the certificate files, and returns a usage error (exit
// status 2) for one that cannot work.
func (s *SecurityFlags) Option() (topology.Option, error) {
	sec, err := s.Security()
	if err != nil || sec == (topology.Security{}) {
		return nil, err
	}
	return topology.WithSecurity(sec), nil
}

// Security returns the setting the flags describe, as [SecurityFlags.Option]
// checks it; the zero value when no flag is set.
func (s *SecurityFlags) Security() (topology.Security, error) {
	if s.fs != nil {
		var errs []error
		for _, name := range securityFlagNames {
			f := s.fs.Lookup(name)
			if f == nil || f.Changed {
				continue
			}
			if v := os.Getenv(envName(name)); v != "" {
				if err := f.Value.Set(v); err != nil {
					errs = append(errs, fmt.Errorf("environment variable %s: %w", envName(name), err))
				}
			}
		}
		if err := errors.Join(errs...); err != nil {
			return topology.Security{}, &usageError{err: err}
		}
	}
	if !s.set() {
		return topology.Security{}, nil
	}
	sec := topology.Security{
		Protocol: strings.ToUpper(s.protocol), Mechanism: strings.ToUpper(s.mechanism),
		Username: s.username, Password: s.password,
		CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile,
	}
	if s.passFile != "" {
		if s.password != "" {
			return topology.Security{}, usagef("--sasl-password and --sasl-password-file both set: give the password once")
		}
		b, err := os.ReadFile(s.passFile)
		if err != nil {
			return topology.Security{}, usagef("--sasl-password-file: %w", err)
		}
		sec.Password, _, _ = strings.Cut(string(b), "\n")
		sec.Password = strings.TrimSuffix(sec.Password, "\r")
	}
	if (sec.Username != "" || strings.HasPrefix(sec.Protocol, "SASL_")) && sec.Password == "" {
		return topology.Security{}, usagef("SASL without a password: set SLUICE_SASL_PASSWORD or --sasl-password-file")
	}
	if _, err := topology.ClientOptions(topology.WithSecurity(sec)); err != nil {
		return topology.Security{}, usagef("%w: fix the security flags (see --help)", err)
	}
	return sec, nil
}
