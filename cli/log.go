package cli

import (
	"io"
	"log/slog"
)

// newLogger returns a text logger on w that writes messages at l and above.
func newLogger(w io.Writer, l slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// logBroker logs the address of an embedded broker, in a form both people and
// scripts find: the attribute addr=HOST:PORT.
func logBroker(log *slog.Logger, addrs []string) {
	if len(addrs) == 0 {
		return
	}
	log.Info("embedded broker ready: any Kafka client can connect to it, kcat for one",
		"addr", addrs[0], "kcat", "kcat -b "+addrs[0]+" -L")
}
