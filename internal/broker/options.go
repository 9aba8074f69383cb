package broker

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// defaultListen is the default of [Listen].
const defaultListen = "127.0.0.1:0"

// DefaultCleanerInterval is the default of [CleanerInterval].
const DefaultCleanerInterval = 5 * time.Second

type config struct {
	dataDir         string
	listen          string
	cleanerInterval time.Duration
	logger          *slog.Logger
	syncWrites      bool
	tls             *tls.Config // see TLS
	users           []user      // see SASL
}

func newConfig(opts []Option) config {
	c := config{
		listen:          defaultListen,
		cleanerInterval: DefaultCleanerInterval,
		logger:          slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// An Option configures [Start]. Later options override earlier ones.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// DataDir persists the broker's topics, records and committed group offsets
// in dir, overriding the default of keeping them in memory only (lost on
// [Broker.Close]). dir is created if needed. A broker started on a dir that
// holds a previous broker's state serves that state again. Only one broker
// may use a dir at a time: nothing locks it.
func DataDir(dir string) Option {
	return optionFunc(func(c *config) { c.dataDir = dir })
}

// Listen sets the "host:port" the broker listens on, overriding the default
// "127.0.0.1:0" (a free loopback port). The broker advertises the address it
// listens on to clients, so listen on an address they can dial; an unspecified
// host such as ":9092" is advertised as "[::]:9092", which only local clients
// reach. Listening on the port of a broker closed a moment ago works.
func Listen(addr string) Option {
	return optionFunc(func(c *config) { c.listen = addr })
}

// CleanerInterval sets how often the log cleaner applies retention and
// compacts topics with cleanup.policy=compact (when one took records since
// the last compaction, or 10 minutes passed), overriding the default of
// 5 s (kfake's is 1 h, under which compacted topics never shrink during a
// test or a demo). The broker runs the cleaner itself (see
// [Broker.Compact]); kfake's, which compacted past open transactions, is
// off. The interval has millisecond resolution; [Start] returns
// [ErrBadCleanerInterval] below 1 ms.
func CleanerInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.cleanerInterval = d })
}

// WithLogger sets the logger for the broker's own messages, overriding the
// default of discarding them. kfake logs every request at debug level.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// SyncWrites sets whether every produced batch is fsynced before it is
// acknowledged, overriding the default of false (the OS page cache, as Kafka's
// default). Without it, acknowledged records survive a crash of the process
// but may not survive a crash of the OS. It has no effect without [DataDir].
func SyncWrites(sync bool) Option {
	return optionFunc(func(c *config) { c.syncWrites = sync })
}
