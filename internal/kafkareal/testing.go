package kafkareal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/ci"
)

// shared holds the clusters [Shared] started, one per shape, until [Main]'s
// tests end.
var shared struct {
	sync.Mutex
	clusters map[string]*sharedCluster
}

type sharedCluster struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the test package's cluster of cfg's shape (its number of
// nodes, and whether it has a [Config.Secure] listener), starting it with
// cfg (plus [FastStart]) on first use: a package pays for the JVMs once, however many tests use them.
// The package's TestMain must wrap its testing.M with [Main], which stops
// the clusters after the tests. Tests sharing a cluster must use topic and
// group names of their own, and a test that kills a node must restart it.
//
// Where Kafka cannot run (no Java, no Maven), Shared skips t with one line
// saying what to install, unless CI runs it ([ci.Strict]): then it fails t.
func Shared(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	key := fmt.Sprintf("%d nodes, secure %v", cfg.Nodes, cfg.Secure != nil)
	shared.Lock()
	if shared.clusters == nil {
		shared.clusters = map[string]*sharedCluster{}
	}
	s := shared.clusters[key]
	if s == nil {
		s = &sharedCluster{}
		shared.clusters[key] = s
	}
	shared.Unlock()
	s.once.Do(func() {
		cfg.JVMOptions = append(slices.Clone(cfg.JVMOptions), FastStart)
		s.c, s.err = Start(context.Background(), cfg)
	})
	if s.err != nil {
		Skip(t, s.err)
	}
	return s.c
}

// Skip ends t for an error starting Kafka: a skip naming what to install for
// [ErrUnavailable] (a failure where CI runs, [ci.Strict]), a failure
// otherwise.
func Skip(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("real Kafka %s: %v", Version, err)
	}
	if s := ci.Setting(); s != "" {
		t.Fatalf("real Kafka %s: %v (%s: CI must test on Apache Kafka)", Version, err, s)
	}
	t.Skipf("real Kafka %s: %v (with %s=1, as .ci/run sets, this fails)", Version, err, ci.Env)
}

// TestingM is what TestMain's testing.M provides; goleak.VerifyTestMain
// accepts it too.
type TestingM interface{ Run() int }

type mainM struct{ m TestingM }

// Main wraps a TestMain's m so that the clusters [Shared] started stop
// after the tests, before a goroutine-leak check:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(kafkareal.Main(m)) }
func Main(m TestingM) TestingM { return mainM{m} }

// Run runs the tests and stops the clusters; when a test failed, it keeps
// each cluster's directory (the brokers' server.log files) and says where.
func (w mainM) Run() int {
	code := w.m.Run()
	shared.Lock()
	defer shared.Unlock()
	for k, s := range shared.clusters {
		if s.c != nil {
			if code != 0 {
				s.c.temp = false
				fmt.Fprintf(os.Stderr, "kafkareal: a test failed: the Kafka cluster's logs are in %s/node-*/server.log\n", s.c.Dir())
			}
			s.c.Close()
		}
		delete(shared.clusters, k)
	}
	return code
}
