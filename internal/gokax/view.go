package gokax

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/sluicehq/sluice/internal/logadapt"
)

// View is a goka view of one table: a local copy of the table's changelog,
// partitioned as processors partition it ([Hasher]), that follows the changelog
// until it is stopped. Build it with [NewView] and run it once.
//
// goka's View opens a sarama consumer and a topic manager in NewView and never
// closes either: every view leaked a client and its goroutines. View keeps what
// its builders opened and closes it when [View.Run] returns.
type View struct {
	v       *goka.View
	clients consumers // the consumers and topic managers goka opened
}

// NewView builds the goka view of table with o's brokers, sarama configuration
// and storage (o.Tester replaces them). The view reconnects by itself after
// broker errors (goka's WithViewAutoReconnect): [View.Run] returns only when its
// context is done or local storage fails. Like goka, NewView dials the brokers.
func NewView(table string, o Options) (*View, error) {
	cfg := o.Config
	if cfg == nil {
		cfg = Config()
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	v := &View{}
	eo := o.ExactlyOnce != nil && o.Tester == nil
	if eo {
		cfg = txnConfig(cfg) // read committed; see markerConsumer
	}
	opts := []goka.ViewOption{
		goka.WithViewClientID("sluice-view-" + table),
		goka.WithViewHasher(Hasher),
		goka.WithViewLogger(logadapt.Goka(logger.With("topic", table))),
		goka.WithViewAutoReconnect(),
		goka.WithViewStorageBuilder(o.Storage),
		goka.WithViewConsumerSaramaBuilder(func(brokers []string, clientID string) (sarama.Consumer, error) {
			c := clone(cfg)
			c.ClientID = clientID
			if eo {
				sc, err := newConsumer(brokers, c)
				if err != nil {
					return nil, err
				}
				return v.clients.track(markerConsumer{Consumer: sc, brokers: brokers, cfg: c}, nil)
			}
			return v.clients.track(newConsumer(brokers, c))
		}),
		goka.WithViewTopicManagerBuilder(func(brokers []string) (goka.TopicManager, error) {
			return v.clients.trackManager(TopicManagerBuilder(cfg)(brokers))
		}),
	}
	if o.Tester != nil {
		opts = append(opts, goka.WithViewTester(o.Tester))
	}
	gv, err := goka.NewView(o.Brokers, goka.Table(table), new(codec.Bytes), opts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("view of %q: %w", table, err), v.clients.closeAll())
	}
	v.v = gv
	return v, nil
}

// Run recovers the table from its changelog and follows it until ctx is done.
// It returns nil after a shutdown caused by ctx. Local storage is closed, and the
// view's clients with it, when Run returns.
func (v *View) Run(ctx context.Context) error {
	err := v.v.Run(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = nil
	}
	return errors.Join(err, v.clients.closeAll())
}

// Get returns the value of key, nil if the table has none. It fails while the
// view is not running (before Run, or after it returned). Safe for concurrent
// use while Run runs.
func (v *View) Get(key string) ([]byte, error) {
	b, err := v.v.Get(key)
	if err != nil {
		return nil, err
	}
	return asBytes(b)
}

// Recovered reports whether every partition has caught up with its changelog
// once. A view that has recovered keeps serving from local storage while it
// reconnects.
func (v *View) Recovered() bool { return v.v.Recovered() }

// Running reports whether every partition is caught up and following the
// changelog now.
func (v *View) Running() bool { return v.v.CurrentState() == goka.ViewStateRunning }
