package gokax

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Every sarama client sluice opens is opened here, each with a dialer of its
// own (a dialGuard), and closed through it.
//
// sarama v1.46.3 opens a broker connection in a goroutine (Broker.Open), and
// a client's Close closes its brokers in goroutines of their own that first
// wait for any open in flight, so Close returns while connections are still
// open; behind a stalled broker, for as long as the stall. Worse, a metadata
// refresh or coordinator lookup that is retrying when its client closes goes
// on after Close and opens a seed broker that nothing closes: its
// connection and its responseReceiver goroutine stay for the life of the
// process (goleak found one after examples/fraud and examples/visa/visa;
// TestClientCloseDuringRetry). sarama's own objects close their clients
// while their goroutines still use them (the async producer closes its
// client before its partition producers exit; a consumer does not wait for
// its partition consumers), and so does goka with its topic managers.
//
// A client from newClient is closed in three steps: its guard refuses every
// new connection and cuts the open ones (an open in flight fails at once
// rather than waiting out a stalled broker), the client closes, and Close
// returns once sarama has closed every broker connection the client opened.
// Owners that need the network to close (a consumer group leaves its group,
// a producer flushes) close first, on a client that is not theirs to close.

// closeWait bounds how long closing a client waits for sarama to close the
// connections the client opened. sarama closes them within milliseconds once
// they are cut; reaching it means a path that opens a connection and never
// closes it, which Close reports with errConnsLeft.
const closeWait = 10 * time.Second

// errClientClosed is the dial error of a client that is closing: sarama
// opens no connection for it.
var errClientClosed = errors.New("gokax: client closed")

// errConnsLeft is returned by a client's Close when sarama did not close a
// connection the client opened within closeWait.
var errConnsLeft = errors.New("gokax: sarama left broker connections open after its client closed")

// dialer is what sarama's Net.Proxy.Dialer is.
type dialer interface {
	Dial(network, addr string) (net.Conn, error)
}

// dialGuard is the dialer of one sarama client: it keeps the client's
// connections until sarama closes them, and once shut, it dials nothing.
type dialGuard struct {
	dial   dialer
	ctx    context.Context // cancelled at shut: dials in flight fail
	cancel context.CancelFunc

	mu struct {
		sync.Mutex
		shut    bool
		conns   map[*guardedConn]struct{} // dialed and not yet closed by sarama
		changed chan struct{}             // closed and replaced when conns shrinks
	}
}

// guardConfig returns a clone of cfg whose connections go through a new
// guard, and the guard. A proxy dialer cfg names is kept behind it.
func guardConfig(cfg *sarama.Config) (*sarama.Config, *dialGuard) {
	c := clone(cfg)
	g := &dialGuard{dial: c.Net.Proxy.Dialer}
	if !c.Net.Proxy.Enable || g.dial == nil {
		g.dial = &net.Dialer{Timeout: c.Net.DialTimeout, KeepAlive: c.Net.KeepAlive, LocalAddr: c.Net.LocalAddr}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.mu.conns = map[*guardedConn]struct{}{}
	g.mu.changed = make(chan struct{})
	c.Net.Proxy.Enable = true
	c.Net.Proxy.Dialer = g
	return c, g
}

// Dial implements sarama's proxy dialer.
func (g *dialGuard) Dial(network, addr string) (net.Conn, error) {
	if g.isShut() {
		return nil, errClientClosed
	}
	var conn net.Conn
	var err error
	if d, ok := g.dial.(interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}); ok {
		conn, err = d.DialContext(g.ctx, network, addr)
	} else {
		conn, err = g.dial.Dial(network, addr)
	}
	if err != nil {
		if g.isShut() {
			return nil, fmt.Errorf("%w: %w", errClientClosed, err)
		}
		return nil, err
	}
	gc := &guardedConn{Conn: conn, g: g}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mu.shut {
		_ = conn.Close()
		return nil, errClientClosed
	}
	g.mu.conns[gc] = struct{}{}
	return gc, nil
}

func (g *dialGuard) isShut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.shut
}

// shut makes g refuse every dial from now on, cancels the dials in flight
// and cuts the open connections: reads and writes on them fail at once, so
// that sarama's goroutines stop waiting on the broker and sarama can close
// them.
func (g *dialGuard) shut() {
	g.mu.Lock()
	g.mu.shut = true
	conns := slices.Collect(maps.Keys(g.mu.conns))
	g.mu.Unlock()
	g.cancel()
	for _, c := range conns {
		_ = c.Conn.Close() // not c.Close: sarama has not closed it yet
	}
}

// wait waits until sarama closed every connection g dialed, at most
// closeWait.
func (g *dialGuard) wait() error {
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	for {
		g.mu.Lock()
		n, changed := len(g.mu.conns), g.mu.changed
		g.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("%w: %d still open after %v", errConnsLeft, n, closeWait)
		}
	}
}

// close shuts g, runs closeClient (if not nil) and waits for sarama to close
// every connection of the client.
func (g *dialGuard) close(closeClient func() error) error {
	g.shut()
	var err error
	if closeClient != nil {
		err = closeClient()
	}
	return errors.Join(err, g.wait())
}

// guardedConn is a connection of a guard: closing it, which sarama does when
// it closes the broker, releases it.
type guardedConn struct {
	net.Conn
	g    *dialGuard
	once sync.Once
}

func (c *guardedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.g.mu.Lock()
		defer c.g.mu.Unlock()
		delete(c.g.mu.conns, c)
		close(c.g.mu.changed)
		c.g.mu.changed = make(chan struct{})
	})
	return err
}

// client is a sarama client whose Close returns once every connection it
// opened is closed, and after which it opens none.
//
// It also remembers every broker it hands out (sarama's consumers,
// producers and admins ask their client for brokers through it), and its
// Close closes them too. sarama answers a failed request by closing the
// broker and then dropping it from its client (a registered broker
// deleted, a seed moved among the dead seeds, which its Close never
// closes); a caller that opened the same broker in between (Leader opens
// the broker it returns) left it open and unreachable, with its
// responseReceiver goroutine, for good: goleak found one after
// examples/visa/visa under load, and the guard waited closeWait for it.
type client struct {
	sarama.Client
	g *dialGuard

	mu     sync.Mutex
	handed map[*sarama.Broker]struct{}
}

// hand remembers b, which the client hands out.
func (c *client) hand(b *sarama.Broker) *sarama.Broker {
	if b != nil {
		c.mu.Lock()
		c.handed[b] = struct{}{}
		c.mu.Unlock()
	}
	return b
}

// Broker-returning methods of sarama.Client: see [client].

func (c *client) Controller() (*sarama.Broker, error) {
	b, err := c.Client.Controller()
	return c.hand(b), err
}

func (c *client) RefreshController() (*sarama.Broker, error) {
	b, err := c.Client.RefreshController()
	return c.hand(b), err
}

func (c *client) Broker(id int32) (*sarama.Broker, error) {
	b, err := c.Client.Broker(id)
	return c.hand(b), err
}

func (c *client) Brokers() []*sarama.Broker {
	bs := c.Client.Brokers()
	for _, b := range bs {
		c.hand(b)
	}
	return bs
}

func (c *client) Leader(topic string, partition int32) (*sarama.Broker, error) {
	b, err := c.Client.Leader(topic, partition)
	return c.hand(b), err
}

func (c *client) LeaderAndEpoch(topic string, partition int32) (*sarama.Broker, int32, error) {
	b, epoch, err := c.Client.LeaderAndEpoch(topic, partition)
	return c.hand(b), epoch, err
}

func (c *client) Coordinator(group string) (*sarama.Broker, error) {
	b, err := c.Client.Coordinator(group)
	return c.hand(b), err
}

func (c *client) TransactionCoordinator(id string) (*sarama.Broker, error) {
	b, err := c.Client.TransactionCoordinator(id)
	return c.hand(b), err
}

func (c *client) LeastLoadedBroker() *sarama.Broker { return c.hand(c.Client.LeastLoadedBroker()) }

// closeHanded closes every broker the client handed out: those sarama's
// Close closes answer ErrNotConnected.
func (c *client) closeHanded() {
	c.mu.Lock()
	handed := c.handed
	c.handed = map[*sarama.Broker]struct{}{}
	c.mu.Unlock()
	for b := range handed {
		_ = b.Close()
	}
}

// newClient opens a sarama client to brokers on a clone of cfg.
func newClient(brokers []string, cfg *sarama.Config) (*client, error) {
	c, g := guardConfig(cfg)
	cl, err := sarama.NewClient(brokers, c)
	if err != nil {
		// sarama closed what it opened; its brokers close in goroutines.
		return nil, errors.Join(err, g.close(nil))
	}
	return &client{Client: cl, g: g, handed: map[*sarama.Broker]struct{}{}}, nil
}

// Close closes the client: see the top of this file. The brokers it handed
// out close after the guard shut, so none opens again.
func (c *client) Close() error {
	return c.g.close(func() error {
		err := c.Client.Close()
		c.closeHanded()
		return err
	})
}

// newConsumer is sarama.NewConsumer on a client of its own, which its Close
// closes.
func newConsumer(brokers []string, cfg *sarama.Config) (sarama.Consumer, error) {
	cl, err := newClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	sc, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		return nil, errors.Join(err, cl.Close())
	}
	return &clientConsumer{Consumer: sc, client: cl}, nil
}

type clientConsumer struct {
	sarama.Consumer
	client *client
}

func (c *clientConsumer) Close() error { return errors.Join(c.Consumer.Close(), c.client.Close()) }

// newConsumerGroup is sarama.NewConsumerGroup on a client of its own, which
// its Close closes after the group was left.
func newConsumerGroup(brokers []string, group string, cfg *sarama.Config) (sarama.ConsumerGroup, error) {
	cl, err := newClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	cg, err := sarama.NewConsumerGroupFromClient(group, cl)
	if err != nil {
		return nil, errors.Join(err, cl.Close())
	}
	return &clientGroup{ConsumerGroup: cg, client: cl}, nil
}

type clientGroup struct {
	sarama.ConsumerGroup
	client *client
}

func (g *clientGroup) Close() error { return errors.Join(g.ConsumerGroup.Close(), g.client.Close()) }

// newAsyncProducer is sarama.NewAsyncProducer on a client of its own, which
// its Close closes after the producer flushed.
func newAsyncProducer(brokers []string, cfg *sarama.Config) (*clientProducer, error) {
	cl, err := newClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewAsyncProducerFromClient(cl)
	if err != nil {
		return nil, errors.Join(err, cl.Close())
	}
	return &clientProducer{AsyncProducer: p, client: cl}, nil
}

// clientProducer is an async producer on a client of its own. Close it with
// Close (AsyncClose closes it too, and waits).
type clientProducer struct {
	sarama.AsyncProducer
	client *client
}

func (p *clientProducer) Close() error { return errors.Join(p.AsyncProducer.Close(), p.client.Close()) }

// AsyncClose is Close without its error: the client can close only once the
// producer has, so it waits.
func (p *clientProducer) AsyncClose() { _ = p.Close() }

// newClusterAdmin is sarama.NewClusterAdmin on a client of its own, which
// its Close closes.
func newClusterAdmin(brokers []string, cfg *sarama.Config) (sarama.ClusterAdmin, error) {
	cl, err := newClient(brokers, cfg)
	if err != nil {
		return nil, err
	}
	adm, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		return nil, errors.Join(err, cl.Close())
	}
	return adm, nil // its Close closes cl
}
