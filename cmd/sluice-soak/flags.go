package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/cli"

	"github.com/sluicehq/sluice/internal/soak"
)

// commonFlags are the flags every soak command shares.
type commonFlags struct {
	exactlyOnce bool
	logLevel    string
	namespace   string
	sec         cli.SecurityFlags
}

func (f *commonFlags) add(c *cobra.Command) {
	fs := c.Flags()
	fs.BoolVar(&f.exactlyOnce, "exactly-once", false, "run the agents in exactly-once mode (default at-least-once)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.namespace, "namespace", "", "prefix of every topic and agent name of the soak, so that runs can share a cluster")
	f.sec.AddFlags(c)
}

// mode returns the mode the flags select.
func (f *commonFlags) mode() soak.Mode {
	if f.exactlyOnce {
		return soak.ExactlyOnce
	}
	return soak.AtLeastOnce
}

// logger returns a text logger on c's error output at the flags' level, or a
// usage error for a level slog does not know.
func (f *commonFlags) logger(c *cobra.Command) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	return slog.New(slog.NewTextHandler(c.ErrOrStderr(), &slog.HandlerOptions{Level: l})), nil
}

// needBrokers returns a usage error if brokers is empty.
func needBrokers(brokers []string) error {
	if len(brokers) == 0 || strings.TrimSpace(brokers[0]) == "" {
		return fmt.Errorf("--brokers is required: give the soak broker's host:port")
	}
	return nil
}
