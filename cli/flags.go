package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/topology"
)

// envPrefix starts the environment variable of every flag: --data-dir is read from
// SLUICE_DATA_DIR when the command line does not set it.
const envPrefix = "SLUICE_"

// Defaults of the flags, matching topology's own (EmbeddedListen, DataDir).
const (
	defaultListen  = "127.0.0.1:9092"
	defaultDataDir = "sluice-data"
)

// envName returns the environment variable that a flag named name reads.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// documentEnv appends "(env SLUICE_NAME)" to the usage of every flag of c, so that
// --help shows where else a value can come from.
func documentEnv(c *cobra.Command) {
	c.Flags().VisitAll(func(f *pflag.Flag) {
		f.Usage += fmt.Sprintf(" (env %s)", envName(f.Name))
	})
}

// applyEnv sets every flag of c that the command line left alone from its
// environment variable, if that is set and not empty: a flag wins over the
// environment, which wins over the default. A value the flag rejects is a
// [usageError] naming the variable.
func applyEnv(c *cobra.Command) error {
	var errs []error
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v := os.Getenv(name)
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q: %w: fix or unset it", name, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	return nil
}

// choice is a flag value that must be one of a few words.
type choice struct {
	value   string
	allowed []string
}

func newChoice(def string, allowed ...string) *choice {
	return &choice{value: def, allowed: allowed}
}

func (c *choice) String() string { return c.value }
func (c *choice) Type() string   { return strings.Join(c.allowed, "|") }

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
	}
	c.value = s
	return nil
}

// level returns the slog level a --log-level choice names.
func level(c *choice) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.value)); err != nil {
		return slog.LevelInfo // unreachable: choice admits only slog's names
	}
	return l
}

// count is a flag value holding a whole number of at least 0; 0 means the default.
type count int

func (n *count) String() string { return strconv.Itoa(int(*n)) }
func (n *count) Type() string   { return "int" }

func (n *count) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return errors.New("want a whole number, 0 for the default")
	}
	*n = count(v)
	return nil
}

// listenAddr is a flag value holding a "host:port" to listen on.
type listenAddr string

func (a *listenAddr) String() string { return string(*a) }
func (a *listenAddr) Type() string   { return "host:port" }

func (a *listenAddr) Set(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return errors.New("want host:port with a port in 0-65535, such as 127.0.0.1:9092 (port 0 picks a free one)")
	}
	*a = listenAddr(s)
	return nil
}

// brokerFlags are the flags of the commands that run an embedded broker unless
// given a cluster's.
type brokerFlags struct {
	brokers     []string
	listen      listenAddr
	dataDir     string
	replication count
	logLevel    *choice
	sec         SecurityFlags // with a cluster
}

// add declares the flags on fs; withCluster adds --brokers and --replication.
func (b *brokerFlags) add(fs *pflag.FlagSet, withCluster bool) {
	b.listen = defaultListen
	b.logLevel = newChoice("info", "debug", "info", "warn", "error")
	if withCluster {
		fs.StringSliceVar(&b.brokers, "brokers", nil,
			"seed brokers of a Kafka cluster, as `host:port,...` (default: start an embedded broker)")
		fs.Var(&b.replication, "replication",
			"replication factor `N` of the topics created; 0 means min(3, number of brokers)")
		b.sec.add(fs)
	}
	fs.Var(&b.listen, "listen", "address of the embedded broker")
	fs.StringVar(&b.dataDir, "data-dir", defaultDataDir,
		"local state goes in `DIR`; the embedded broker keeps its log in DIR/broker")
	fs.Var(b.logLevel, "log-level", "least severe log messages written to stderr")
}

// embedded reports whether the command must start an embedded broker, and checks
// that the flags suit one.
func (b *brokerFlags) embedded() (bool, error) {
	if len(b.brokers) > 0 {
		return false, nil
	}
	if b.replication > 1 {
		return true, usagef("--replication %d needs a cluster: the embedded broker has one node, so use --replication 1 or give --brokers", b.replication)
	}
	if b.sec.set() {
		return true, usagef("the security flags need --brokers: the embedded broker of this command is plaintext ('broker' serves TLS and SASL)")
	}
	return true, nil
}

// startEmbedded starts the embedded broker on --listen with its log in
// DIR/broker of --data-dir, logging to log, with more options after those,
// and logs its address.
func (b *brokerFlags) startEmbedded(log *slog.Logger, more ...broker.Option) (*broker.Broker, error) {
	br, err := broker.Start(append([]broker.Option{
		broker.DataDir(filepath.Join(b.dataDir, "broker")),
		broker.Listen(string(b.listen)),
		broker.WithLogger(log),
	}, more...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	logBroker(log, br.Addrs())
	return br, nil
}

// cluster returns the options that name the cluster of --brokers and how to
// reach it: topology.Brokers and the security flags' option.
func (b *brokerFlags) cluster() ([]topology.Option, error) {
	sec, err := b.sec.Option()
	if err != nil {
		return nil, err
	}
	return []topology.Option{topology.Brokers(b.brokers...), sec}, nil
}
