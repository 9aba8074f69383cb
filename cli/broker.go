package cli

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/broker"
)

// brokerCommand returns the broker command, which runs the embedded broker alone.
func brokerCommand() *cobra.Command {
	var (
		bf      brokerFlags
		cleaner time.Duration
		sec     SecurityFlags
	)
	c := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker until SIGINT or SIGTERM",
		Long: `Broker runs sluice's embedded single-node Kafka-protocol broker on --listen and
logs its address (addr=HOST:PORT). Any Kafka client can use it; it creates no
topic on its own, and being one node it accepts replication factor 1 only.

Topics, records and committed offsets persist in DIR/broker, the directory the
embedded broker of 'run' and 'topics' uses, so they can take turns on one data
directory. On SIGINT or SIGTERM the broker writes its state, closes, and the
command exits 0.

To try a secured cluster locally, the security flags configure the broker's
side: --ssl-certificate-location and --ssl-key-location its certificate (TLS),
--ssl-ca-location the CA whose client certificates it then requires (mutual
TLS), and --sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) with
--sasl-username and the password (SLUICE_SASL_PASSWORD or
--sasl-password-file) the one user it accepts. Clients then connect with the
same flags of run, topics or lag, and --ssl-ca-location of the CA that signed
the broker's certificate.`,
	}
	bf.add(c.Flags(), false /* withCluster */)
	sec.AddFlags(c)
	c.Flags().DurationVar(&cleaner, "cleaner-interval", broker.DefaultCleanerInterval,
		"how often the log cleaner compacts compacted topics and applies retention (at least 1ms)")
	return leaf(c, func(c *cobra.Command) error {
		if cleaner < time.Millisecond {
			return usagef("--cleaner-interval %v: want at least 1ms", cleaner)
		}
		secure, err := serverSecurity(&sec)
		if err != nil {
			return err
		}
		log := newLogger(c.ErrOrStderr(), level(bf.logLevel))
		b, err := bf.startEmbedded(log, append([]broker.Option{broker.CleanerInterval(cleaner)}, secure...)...)
		if err != nil {
			return err
		}
		<-c.Context().Done()
		log.Info("stopping broker", "data_dir", filepath.Join(bf.dataDir, "broker"))
		if err := b.Close(); err != nil {
			return err
		}
		log.Info("broker stopped")
		return nil
	})
}

// serverSecurity returns the broker options of the security flags, read as
// the broker's side: its certificate and key, the CA of the client
// certificates it requires, and the SASL user it accepts.
func serverSecurity(sec *SecurityFlags) ([]broker.Option, error) {
	s, err := sec.Security()
	if err != nil {
		return nil, err
	}
	var opts []broker.Option
	if s.CertFile != "" || s.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, usagef("--ssl-certificate-location and --ssl-key-location: the broker's certificate and key: %w", err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if s.CAFile != "" {
			pem, err := os.ReadFile(s.CAFile)
			if err != nil {
				return nil, usagef("--ssl-ca-location: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, usagef("--ssl-ca-location %s: no PEM certificate in the file", s.CAFile)
			}
			tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		opts = append(opts, broker.TLS(tc))
	} else if s.CAFile != "" {
		return nil, usagef("--ssl-ca-location needs the broker's own certificate: give --ssl-certificate-location and --ssl-key-location")
	}
	if s.Username != "" {
		mech := s.Mechanism
		if mech == "" {
			mech = "PLAIN"
		}
		opts = append(opts, broker.SASL(mech, s.Username, s.Password))
	}
	return opts, nil
}
