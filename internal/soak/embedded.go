package soak

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// embeddedCluster is sluice's embedded broker as a process of its own (the
// soak binary's broker command), on one port and data dir for the whole
// run: clients reconnect to a restarted broker only on the same address.
type embeddedCluster struct {
	cfg  *Config
	log  *slog.Logger
	addr string
	p    *proc
}

func newEmbeddedCluster(cfg *Config, log *slog.Logger) (*embeddedCluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &embeddedCluster{cfg: cfg, log: log, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, nil
}

func (k *embeddedCluster) String() string  { return "embedded" }
func (k *embeddedCluster) addrs() []string { return []string{k.addr} }

// start starts the broker process and waits until it answers, retrying a
// start that fails (the port may take a moment to be free after a kill).
func (k *embeddedCluster) start(ctx context.Context) error {
	const attempts = 5
	var err error
	for i := range attempts {
		if i > 0 {
			k.log.Warn("broker did not start; retrying", "error", err)
			time.Sleep(time.Second)
		}
		args := []string{"broker", "--listen", k.addr, "--data-dir", k.cfg.Dir, "--log-level", "info"} // the broker keeps its data in Dir/broker
		k.p, err = startProc(k.cfg.Binary, "broker", k.cfg.logPath("broker"), nil, args...)
		if err != nil {
			return err
		}
		if err = waitBroker(ctx, k.addr, k.p); err == nil {
			return nil
		}
		k.p.kill()
	}
	return fmt.Errorf("broker did not start after %d attempts (log %s): %w", attempts, k.cfg.logPath("broker"), err)
}

func (k *embeddedCluster) bounce(ctx context.Context) (string, error) {
	k.p.kill()
	return "the broker", k.start(ctx)
}

// rolling stops the one broker gracefully and starts it again.
func (k *embeddedCluster) rolling(ctx context.Context) error {
	if err := k.p.stop(stopTimeout); err != nil {
		return err
	}
	return k.start(ctx)
}

func (k *embeddedCluster) outage(ctx context.Context, d time.Duration) (string, error) {
	k.p.kill()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(d):
	}
	return fmt.Sprintf("the broker down %v", d), k.start(ctx)
}

func (k *embeddedCluster) restartCrashed(ctx context.Context) (string, error) {
	if !k.p.exited() || k.p.expected {
		return "", nil
	}
	return fmt.Sprintf("broker (%v)", k.p.cmd.ProcessState), k.start(ctx)
}

func (k *embeddedCluster) stop() error { return k.p.stop(stopTimeout) }

func (k *embeddedCluster) kill() {
	if k.p != nil && !k.p.exited() {
		k.p.kill()
	}
}

// waitBroker waits until the broker at addr answers a metadata request,
// for up to a minute or until p exits.
func waitBroker(ctx context.Context, addr string, p *proc) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err = cl.Ping(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("broker exited (%v)", p.cmd.ProcessState)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker at %s not answering: %w", addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
