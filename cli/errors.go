package cli

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/topology"
)

// usageError is a mistake in the command line, the environment or the topology:
// nothing ran, and the message says what to fix. [Execute] exits with [ExitUsage].
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a [usageError] formatted like fmt.Errorf.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// flagError wraps an error of cobra's flag parsing as a [usageError] that points
// to the command's help; it is the root's flag error function.
func flagError(c *cobra.Command, err error) error {
	return usagef("%w: see '%s --help'", err, c.CommandPath())
}

// failure is an error a command hit while running, after its configuration was
// accepted. [Execute] exits with [ExitFailure], unless it wraps a configuration
// error (see [explain]).
type failure struct{ err error }

// Failure marks err, returned by a command added to [Command]'s root, as a
// failure while running (exit status 1, [ExitFailure]) rather than a mistake in
// the command line (status 2). It returns nil for a nil err.
func Failure(err error) error {
	if err == nil {
		return nil
	}
	return &failure{err: err}
}

func (e *failure) Error() string { return e.err.Error() }
func (e *failure) Unwrap() error { return e.err }

// declarationErrors are topology's sentinels for a graph that cannot run: the
// program's declaration, not its command line, needs fixing.
var declarationErrors = []error{
	topology.ErrNoName,
	topology.ErrNoCodec,
	topology.ErrNoInput,
	topology.ErrDuplicateAgent,
	topology.ErrUnknownTopic,
	topology.ErrNoReader,
	topology.ErrCodecMismatch,
	topology.ErrTopicConflict,
	topology.ErrCopartition,
}

// explain returns the one-line message for err and the exit status it earns.
// Configuration errors (flags, environment, an unknown agent, a bad listen
// address, an invalid graph, a credential or certificate the cluster refuses,
// a consumer group setting it refuses, an ACL it lacks)
// earn [ExitUsage] wherever they surface; other
// errors from a running command earn [ExitFailure]. Errors cobra returns before
// any command runs (an unknown command, a stray argument) are usage errors too.
func explain(root *cobra.Command, err error) (string, int) {
	var ue *usageError
	var f *failure
	switch {
	case errors.As(err, &ue):
		return oneLine(err), ExitUsage
	case errors.Is(err, topology.ErrUnknownAgent):
		return oneLine(err) + ": use --agents with names from 'describe'", ExitUsage
	case errors.Is(err, topology.ErrExactlyOnce):
		return oneLine(err) + ": run those agents without --exactly-once", ExitUsage
	case errors.Is(err, broker.ErrBadListen):
		return oneLine(err) + ": use --listen host:port, such as 127.0.0.1:9092", ExitUsage
	case isDeclaration(err):
		return oneLine(invalidGraph(err)), ExitUsage
	case errors.Is(err, topology.ErrAuthentication):
		return oneLine(err) + ": check --sasl-username, --sasl-mechanism and the password (SLUICE_SASL_PASSWORD or --sasl-password-file)", ExitUsage
	case errors.Is(err, topology.ErrTLS):
		return oneLine(err) + ": check --security-protocol, --ssl-ca-location (the CA of the brokers' certificates) and, where brokers require one, --ssl-certificate-location and --ssl-key-location", ExitUsage
	case errors.Is(err, topology.ErrSecurity), errors.Is(err, topology.ErrKafkaVersion),
		errors.Is(err, topology.ErrGroupRefused), errors.Is(err, topology.ErrNotAuthorized):
		return oneLine(err), ExitUsage
	case errors.Is(err, syscall.EADDRINUSE):
		return oneLine(err) + ": use another --listen (port 0 picks a free one) or stop what listens there", ExitFailure
	case errors.As(err, &f):
		return oneLine(err), ExitFailure
	default:
		return fmt.Sprintf("%s: see '%s --help'", oneLine(err), root.CommandPath()), ExitUsage
	}
}

// isDeclaration reports whether err wraps one of [declarationErrors].
func isDeclaration(err error) bool {
	for _, d := range declarationErrors {
		if errors.Is(err, d) {
			return true
		}
	}
	return false
}

// invalidGraph wraps an error of [topology.Graph.Validate] as a [usageError].
func invalidGraph(err error) error {
	return usagef("invalid topology: %w: fix the graph's declaration in the program", err)
}

// oneLine returns err's message on one line: errors.Join puts one error a line,
// and the CLI prints exactly one.
func oneLine(err error) string {
	lines := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

// hint is an error whose message is written for the person at the command line,
// while errors.Is still finds the sentinel it stands for.
type hint struct {
	msg string
	err error
}

func (e *hint) Error() string { return e.msg }
func (e *hint) Unwrap() error { return e.err }
