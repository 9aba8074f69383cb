package observe

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// An Option configures [NewServer]. Later options override earlier ones.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	brokers  []string
	conn     []topology.Option // see Connect
	logger   *slog.Logger
	interval time.Duration
	metrics  http.Handler
	views    []View
}

func newConfig(opts []Option) config {
	c := config{logger: slog.New(slog.DiscardHandler), interval: time.Second}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// Brokers sets the seed brokers to watch. Without it the server waits for
// [Server.SetBrokers]: its page loads, and says it is waiting for the broker.
func Brokers(addrs ...string) Option {
	return optionFunc(func(c *config) { c.brokers = slices.Clone(addrs) })
}

// Connect sets how the server's clients reach the cluster: the options
// given to [topology.Run] that say so, [topology.WithSecurity] and
// [topology.KafkaConfig] (its Net settings), overriding the default:
// plaintext. Seed brokers come from [Brokers] or [Server.SetBrokers].
func Connect(opts ...topology.Option) Option {
	return optionFunc(func(c *config) { c.conn = slices.Clone(opts) })
}

// WithLogger sets the logger, overriding the default that discards everything.
// The server logs failed samples (once per change of error), never per request.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// Interval sets how often the server samples offsets and how often the page
// refreshes, overriding the default of one second.
func Interval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.interval = max(d, 50*time.Millisecond) })
}

// Metrics mounts h at /metrics, for example the Prometheus handler of the
// process; by default /metrics is not served.
func Metrics(h http.Handler) Option {
	return optionFunc(func(c *config) { c.metrics = h })
}

// A View is a page of its own that a [Server] serves beside the live page,
// linked from the live page's header: a view of the topology's data for
// people, such as a queue of applications awaiting review.
type View struct {
	// Path is where the view is mounted: a path with a leading and a trailing
	// slash, such as "/review/"; its handler serves everything under it.
	Path string
	// Title is the text of the link to it.
	Title string
	// Handler serves the view. It sees requests with their full path.
	Handler http.Handler
}

// Views adds views to the server, in the order of their links. A view whose
// Path is not "/name/" (one segment, not "/api/", "/static/" or "/metrics/")
// or whose Handler is nil makes [NewServer] fail with [ErrBadView].
func Views(vs ...View) Option {
	return optionFunc(func(c *config) { c.views = append(c.views, vs...) })
}
