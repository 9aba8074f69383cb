package topology_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/gokax"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/observe"
	"github.com/sluicehq/sluice/topology"
)

// TestKafkaVersionFloor pins that a KafkaConfig whose sarama Version is
// below 2.1, the oldest protocol Kafka 4 serves (KIP-896), is refused by
// every constructor before anything dials; and that 2.1 itself works on
// both brokers, in both modes.
func TestKafkaVersionFloor(t *testing.T) {
	old := gokax.Config()
	old.Version = sarama.V2_0_0_0
	opts := []topology.Option{topology.Brokers("127.0.0.1:1"), topology.KafkaConfig(old), topology.DataDir(t.TempDir())}
	for name, err := range map[string]error{
		"Run":           topology.Run(t.Context(), counterGraph(), opts...),
		"Provision":     second(topology.Provision(t.Context(), counterGraph(), opts...)),
		"NewEmitter":    second(topology.NewEmitter(clicks, opts...)),
		"NewView":       second(topology.NewView(topology.ExternalTable("counter", topology.Int64()), opts...)),
		"ClientOptions": second(topology.ClientOptions(opts...)),
	} {
		if !errors.Is(err, topology.ErrKafkaVersion) {
			t.Errorf("%s with sarama %s = %v, want ErrKafkaVersion", name, old.Version, err)
		}
	}

	floor := gokax.Config()
	floor.Version = topology.MinKafkaVersion
	kafkatest.EachBroker(t, func(t *testing.T, b *kafkatest.Broker) {
		for _, eos := range []bool{false, true} {
			t.Run(fmt.Sprintf("exactly-once=%v", eos), func(t *testing.T) {
				name := func(s string) string { return b.Name(fmt.Sprintf("floor-%v-%s", eos, s)) }
				opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.KafkaConfig(floor), topology.DataDir(t.TempDir())}
				g := counterGraphNamed(name)
				if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
					t.Fatalf("Provision: %v", err)
				}
				produceKeys(t, b.Addrs(), name(clicks.Name), 10, 10)
				if eos {
					opts = append(opts, topology.ExactlyOnce(topology.DefaultCommitInterval))
				}
				running(t, g, opts...)
				latest(t, b.Addrs(), name(counts.Name), 10, 10)
			})
		}
	})
}

func second[T any](_ T, err error) error { return err }

// minVersions are the oldest versions of the requests sluice's clients send
// (processors, views, emitters, transactional producers) at
// gokax.KafkaVersion (2.8): every one is a franz-go client capped at that
// Kafka version (franz-go's table of the release's versions: Fetch 12,
// ListOffsets 6, Metadata 11 and Produce 9 where sarama, which views and
// emitters ran on before, sent 11, 5, 10 and 7; JoinGroup 7, SyncGroup 5,
// OffsetCommit 8, FindCoordinator 3, TxnOffsetCommit 3, the one KIP-447
// needs). Kafka 4.0
// removed every version below 2.1's (KIP-896); TestRequestVersions checks
// these against Kafka 4.4's ranges too. sluice's other franz-go clients
// (provisioning, lag, the read-committed changelog reader) ask for the
// newest version a broker offers, so they are checked only against the
// ranges. Heartbeats (franz-go's first comes a heartbeat interval after a
// join, past this test's runs) are checked only against the ranges. A
// change here changes what sluice sends to every cluster: check it against
// the oldest Kafka sluice supports.
var minVersions = map[string]int16{
	"AddOffsetsToTxn":    3,
	"AddPartitionsToTxn": 3,
	"ApiVersions":        3,
	"EndTxn":             3,
	"Fetch":              12,
	"FindCoordinator":    3,
	"InitProducerID":     4,
	"JoinGroup":          7,
	"LeaveGroup":         4,
	"ListOffsets":        6,
	"Metadata":           11,
	"OffsetCommit":       8,
	"OffsetFetch":        7,
	"Produce":            9,
	"SyncGroup":          5,
	"TxnOffsetCommit":    3,
}

// offered are requests franz-go sends only to a broker that offers them
// (KIP-714 client telemetry: kfake does, Kafka 4.4 without a metrics plugin
// does not).
var offered = []string{"GetTelemetrySubscriptions", "PushTelemetry"}

// TestRequestVersions records the request versions of every kind of client
// sluice runs (provisioning, emitter, agents in both modes, lookups through
// a view, lag) on the embedded broker, pins the oldest of each request in
// minVersions, and checks every version recorded against the range Apache
// Kafka 4.4 serves (its ApiVersions answer).
func TestRequestVersions(t *testing.T) {
	b := kafkatest.OnEmbedded(t)
	var mu sync.Mutex
	seen := map[string]int16{}
	versions := map[int16]map[int16]bool{}
	c := b.Embedded().Cluster()
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		name := kmsg.NameForKey(req.Key())
		if v, ok := seen[name]; !ok || req.GetVersion() < v {
			seen[name] = req.GetVersion()
		}
		if versions[req.Key()] == nil {
			versions[req.Key()] = map[int16]bool{}
		}
		versions[req.Key()][req.GetVersion()] = true
		return nil, nil, false
	})
	for _, eos := range []bool{false, true} {
		name := func(s string) string { return fmt.Sprintf("v-%v-%s", eos, s) }
		opts := []topology.Option{topology.Brokers(b.Addrs()...), topology.DataDir(t.TempDir())}
		run := opts
		if eos {
			run = append(slices.Clip(opts), topology.ExactlyOnce(topology.DefaultCommitInterval))
		}
		g := counterGraphNamed(name)
		in := clicks
		in.Name = name(in.Name)
		stop := running(t, g, run...)
		em, err := topology.NewEmitter(in, opts...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := em.Write(t.Context(), fmt.Sprint(i%4), "x"); err != nil {
				t.Fatal(err)
			}
		}
		em.Close()
		latest(t, b.Addrs(), name(counts.Name), 4, 5)
		v, err := topology.NewView(topology.ExternalTable(name("counter"), topology.Int64()), run...)
		if err != nil {
			t.Fatal(err)
		}
		vctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- v.Run(vctx) }()
		waitUntil(t, time.Minute, "the view to count", func() bool { n, ok, _ := v.Get("0"); return ok && n == 5 })
		cancel()
		<-done
		kopts, err := topology.ClientOptions(opts...)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kopts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := observe.GraphLag(t.Context(), cl, g); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		stop()
	}
	mu.Lock()
	got := maps.Clone(seen)
	mu.Unlock()
	for name, v := range got {
		if want, ok := minVersions[name]; ok && v != want {
			t.Errorf("oldest %s sent: v%d, pinned v%d", name, v, want)
		}
	}
	for name := range minVersions {
		if _, ok := got[name]; !ok {
			t.Errorf("minVersions pins %s, which sluice no longer sends", name)
		}
	}

	// Against what Kafka 4.4 serves.
	k := kafkatest.OnKafka(t)
	resp, err := kadm.NewClient(kafkatest.Client(t, k.Addrs())).ApiVersions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, bv := range resp {
		if bv.Err != nil {
			t.Fatal(bv.Err)
		}
		mu.Lock()
		for key, vs := range versions {
			if slices.Contains(offered, kmsg.NameForKey(key)) {
				continue
			}
			lo, hi, ok := bv.KeyVersions(key)
			for v := range vs {
				if !ok || v < lo || v > hi {
					t.Errorf("sluice sends %s v%d; Kafka %s serves %v (%d..%d)", kmsg.NameForKey(key), v, "4.4", ok, lo, hi)
				}
			}
		}
		mu.Unlock()
		break // every node runs the same version
	}
	t.Logf("oldest versions sent: %v", got)
}
