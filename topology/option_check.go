package topology

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrOption: an option whose value cannot work (a negative retry count, an
// empty data dir, a duration that is not positive), or an option given to a
// constructor that does not take it ([Agents] to [NewEmitter], say). The
// error names the option and what to fix.
var ErrOption = errors.New("topology: bad option")

// taker is a constructor that takes options: each option says which.
type taker uint8

const (
	forRun taker = 1 << iota
	forView
	forEmitter
	forProvision
	forClient // ClientOptions

	forConnection = forRun | forView | forEmitter | forProvision | forClient
)

// takers names the constructors, for errors.
var takers = []struct {
	t    taker
	name string
}{{forRun, "Run"}, {forView, "NewView"}, {forEmitter, "NewEmitter"}, {forProvision, "Provision"}, {forClient, "ClientOptions"}}

func (t taker) String() string {
	var names []string
	for _, k := range takers {
		if t&k.t != 0 {
			names = append(names, k.name)
		}
	}
	return strings.Join(names, ", ")
}

// namedOption is an option that knows its name and the constructors that
// take it.
type namedOption struct {
	name  string
	takes taker
	fn    func(*runConfig)
}

func (o namedOption) apply(c *runConfig) {
	c.given = append(c.given, o)
	o.fn(c)
}

// option returns the option named name that the constructors in takes
// accept. Provision takes every option Run does, so that Run's options
// provision what Run would run.
func option(name string, takes taker, fn func(*runConfig)) Option {
	if takes&forRun != 0 {
		takes |= forProvision
	}
	return namedOption{name: name, takes: takes, fn: fn}
}

// check returns an error wrapping [ErrOption] for each option that the
// constructor t does not take, and for each value that cannot work.
func (c *runConfig) check(t taker) error {
	var errs []error
	for _, o := range c.given {
		if o.takes&t == 0 {
			errs = append(errs, fmt.Errorf("%w: %s does not take %s (%s does)", ErrOption, t, o.name, o.takes))
		}
	}
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrOption}, args...)...))
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad("%s(%v): want a positive duration", name, d)
		}
	}
	for _, b := range c.brokers {
		if strings.TrimSpace(b) == "" {
			bad("Brokers(%q): an empty broker address", c.brokers)
			break
		}
	}
	if c.dataDir == "" {
		bad(`DataDir(""): want a directory ("." for the working directory)`)
	}
	{ // defaults pass: these fail only for values an option gave
		if c.listen == "" {
			bad(`EmbeddedListen(""): want host:port (port 0 picks a free port)`)
		}
		if c.retries < 0 {
			bad("Retries(%d): want 0 or more", c.retries)
		}
		positive("RetryBackoff", c.retryBackoff)
		positive("RestartBackoff's min", c.restartMin)
		positive("RestartBackoff's max", c.restartMax)
		if c.restartMax > 0 && c.restartMin > c.restartMax {
			bad("RestartBackoff(%v, %v): min above max", c.restartMin, c.restartMax)
		}
		for _, a := range c.agents {
			if a == "" {
				bad("Agents(%q): an empty agent name", c.agents)
				break
			}
		}
	}
	if c.replication < 0 {
		bad("Replication(%d): want 1 or more (0 for the default)", c.replication)
	}
	if c.exactlyOnce {
		positive("ExactlyOnce", c.commitInterval)
	}
	if c.state.memoryBytes < 0 {
		bad("StateMemory(%d): want a positive size", c.state.memoryBytes)
	}
	return errors.Join(errs...)
}
