package kafkatest

import (
	"testing"

	"github.com/sluicehq/sluice/internal/broker"
)

// Restartable is an embedded broker persisted in a directory of the test,
// which the test may stop and start again on the same directory and port:
// clients connected before see connections refused while it is stopped,
// and reach it again without being told anything once it is back.
type Restartable struct {
	t    testing.TB
	dir  string
	addr string
	b    *broker.Broker // nil while stopped
}

// StartRestartable starts a broker on a free port in a fresh t.TempDir(); it
// is closed in t.Cleanup if it runs then.
func StartRestartable(t testing.TB) *Restartable {
	t.Helper()
	r := &Restartable{t: t, dir: t.TempDir()}
	b, err := broker.Start(broker.DataDir(r.dir))
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	r.b, r.addr = b, b.Addrs()[0]
	t.Cleanup(func() {
		if r.b != nil {
			if err := r.b.Close(); err != nil {
				t.Errorf("close broker: %v", err)
			}
		}
	})
	return r
}

// Addrs returns the broker's address, the same across restarts.
func (r *Restartable) Addrs() []string { return []string{r.addr} }

// Broker returns the running broker, nil while it is stopped.
func (r *Restartable) Broker() *broker.Broker { return r.b }

// Stop closes the broker.
func (r *Restartable) Stop() {
	r.t.Helper()
	if err := r.b.Close(); err != nil {
		r.t.Fatalf("close broker: %v", err)
	}
	r.b = nil
}

// Start starts the broker again on the same data dir and port.
func (r *Restartable) Start() {
	r.t.Helper()
	b, err := broker.Start(broker.DataDir(r.dir), broker.Listen(r.addr))
	if err != nil {
		r.t.Fatalf("restart broker on %s: %v", r.addr, err)
	}
	r.b = b
}
