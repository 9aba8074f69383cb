package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ErrBadSecurity is returned by [Start] for a [SASL] user that cannot work
// (an unknown mechanism, an empty name).
var ErrBadSecurity = errors.New("broker: bad security option")

// saslMechanisms are the mechanisms [SASL] accepts, as kfake serves them.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// user is a SASL user of [SASL].
type user struct{ mechanism, name, password string }

// TLS makes the broker serve TLS with cfg (its certificate, and with
// cfg.ClientAuth, mutual TLS), overriding the default of plaintext. cfg is
// cloned.
func TLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) {
		if cfg != nil {
			c.tls = cfg.Clone()
		}
	})
}

// SASL makes the broker require SASL authentication and adds a user who
// may do everything: mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
// Unlike other options, each SASL adds a user to those before it. Without
// it clients need no authentication.
func SASL(mechanism, name, password string) Option {
	return optionFunc(func(c *config) { c.users = append(c.users, user{mechanism, name, password}) })
}

// secure returns the kfake options for cfg's TLS and SASL users.
func (cfg config) secure() ([]kfake.Opt, error) {
	if len(cfg.users) == 0 {
		return nil, nil
	}
	opts := []kfake.Opt{kfake.EnableSASL()}
	for _, u := range cfg.users {
		if !slices.Contains(saslMechanisms, u.mechanism) {
			return nil, fmt.Errorf("%w: SASL mechanism %q: want one of %q", ErrBadSecurity, u.mechanism, saslMechanisms)
		}
		if u.name == "" {
			return nil, fmt.Errorf("%w: SASL %s user without a name", ErrBadSecurity, u.mechanism)
		}
		opts = append(opts, kfake.Superuser(u.mechanism, u.name, u.password))
	}
	return opts, nil
}

// internalOpts returns the options of the broker's own clients (the reaper,
// the cleaner): they reach the broker over in-process pipes that the
// listener takes without TLS, so they need no client certificate, and
// authenticate as the first SASL user.
func (cfg config) internalOpts(ln *listener) []kgo.Opt {
	opts := []kgo.Opt{kgo.Dialer(func(ctx context.Context, _, _ string) (net.Conn, error) { return ln.pipe(ctx) })}
	if len(cfg.users) > 0 {
		u := cfg.users[0]
		var m sasl.Mechanism
		switch u.mechanism {
		case "PLAIN":
			m = plain.Auth{User: u.name, Pass: u.password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: u.name, Pass: u.password}.AsSha256Mechanism()
		default:
			m = scram.Auth{User: u.name, Pass: u.password}.AsSha512Mechanism()
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts
}

// listener is the broker's listener: connections accepted on the network
// (wrapped in TLS when the broker serves it), and in-process pipes for the
// broker's own clients.
type listener struct {
	net.Listener
	tls      *tls.Config
	accepted chan acceptResult
	pipes    chan net.Conn
	closing  chan struct{}
	once     sync.Once
	done     chan struct{} // closed when the accept loop returned
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newListener(ln net.Listener, tc *tls.Config) *listener {
	l := &listener{Listener: ln, tls: tc, accepted: make(chan acceptResult), pipes: make(chan net.Conn),
		closing: make(chan struct{}), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *listener) acceptLoop() {
	defer close(l.done)
	for {
		c, err := l.Listener.Accept()
		if err == nil && l.tls != nil {
			c = tls.Server(c, l.tls)
		}
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.closing:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			close(l.accepted)
			return
		}
	}
}

// Accept returns the next network connection or pipe.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case r, ok := <-l.accepted:
		if !ok {
			return nil, net.ErrClosed
		}
		return r.conn, r.err
	case c := <-l.pipes:
		return c, nil
	case <-l.closing:
		return nil, net.ErrClosed
	}
}

// pipe connects an in-process client: it returns the client's end and
// hands the other to Accept.
func (l *listener) pipe(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.pipes <- server:
		return client, nil
	case <-l.closing:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	return nil, net.ErrClosed
}

// Close closes the network listener and stops handing out connections.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.closing)
		err = l.Listener.Close()
		<-l.done
	})
	return err
}
