package benchmarks

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/broker"
	"github.com/sluicehq/sluice/internal/ci"
	"github.com/sluicehq/sluice/internal/kafkareal"
)

// brokersFlag selects the brokers the end-to-end benchmarks run on.
var brokersFlag = flag.String("brokers", "embedded,kafka",
	"brokers of the end-to-end benchmarks: embedded (kfake in this process), kafka (Apache Kafka "+kafkareal.Version+", one KRaft node)")

// env is a broker the end-to-end benchmarks run on, started on first use.
type env struct {
	name  string // "embedded" or "kafka"
	addrs []string
	fake  *broker.Broker     // embedded only
	kafka *kafkareal.Cluster // kafka only

	started, ok bool
}

// kafkaHeap is the real broker's heap. Kafka's own start script gives it 1 GiB;
// the test clusters' 256 MiB would make its garbage collector part of what is
// measured.
const kafkaHeap = "1g"

// envs returns the brokers -brokers names, not started yet.
func envs(b *testing.B) []*env {
	b.Helper()
	var out []*env
	for _, name := range strings.Split(*brokersFlag, ",") {
		switch name = strings.TrimSpace(name); name {
		case "embedded", "kafka":
			out = append(out, &env{name: name})
		case "":
		default:
			b.Fatalf("-brokers %q: want embedded, kafka or both, comma-separated", *brokersFlag)
		}
	}
	return out
}

// up starts e once, for the rest of b, and reports whether it runs: the
// embedded broker of [startBroker], or a one-node Apache Kafka (kafkareal)
// with Kafka's own defaults, a 1 GiB heap and the JVM's full compilers.
// Where Kafka cannot run (no Java or Maven) its rows are left out with a
// line saying why, unless CI runs them (ci.Strict).
func (e *env) up(b *testing.B) bool {
	b.Helper()
	if e.started {
		return e.ok
	}
	e.started = true
	switch e.name {
	case "embedded":
		e.fake = startBroker(b)
		e.addrs = e.fake.Addrs()
	case "kafka":
		c, err := kafkareal.Start(context.Background(), kafkareal.Config{Nodes: 1, Heap: kafkaHeap})
		if errors.Is(err, kafkareal.ErrUnavailable) && !ci.Strict() {
			b.Logf("broker=kafka left out: %v", err)
			return false
		}
		if err != nil {
			b.Fatalf("start Apache Kafka: %v", err)
		}
		b.Cleanup(func() {
			if err := c.Close(); err != nil {
				b.Errorf("stop Apache Kafka: %v", err)
			}
		})
		e.kafka, e.addrs = c, c.Addrs()
	}
	e.ok = true
	return true
}
