package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkareal"
)

// cluster is the Kafka a soak runs on, and how the orchestrator disturbs its
// brokers. Its methods are called by the orchestrator's goroutine only.
type cluster interface {
	// addrs returns the seed brokers.
	addrs() []string
	// start starts the cluster (the embedded broker process) or checks that
	// it serves.
	start(ctx context.Context) error
	// bounce kills a broker with SIGKILL (on a cluster: the leader of a
	// partition the chain writes) and starts it again; it says which.
	bounce(ctx context.Context) (string, error)
	// rolling stops and restarts every broker in turn, gracefully, each
	// back and in sync before the next.
	rolling(ctx context.Context) error
	// outage kills a broker, keeps it down for d, and starts it again.
	outage(ctx context.Context, d time.Duration) (string, error)
	// restartCrashed starts a broker that exited without being told to and
	// says which; "" if none did.
	restartCrashed(ctx context.Context) (string, error)
	// stop stops what start started, at the end of a run.
	stop() error
	// kill kills what start started: the cleanup of a failed run.
	kill()
	// String names the cluster for the report: embedded or kafka-VERSION.
	String() string
}

// outageFor is how long an outage keeps a broker down: longer than the
// agents' session timeout (10 s), so that their groups, whose coordinator
// may be on that broker, expire them and rebalance.
const outageFor = 15 * time.Second

// realCluster is an Apache Kafka cluster of kafkareal, started by the soak
// (own) or given to it.
type realCluster struct {
	c      *kafkareal.Cluster
	own    bool
	ns     string // for the topic whose leaders a bounce kills
	rnd    *rand.Rand
	log    *slog.Logger
	downed map[int]bool // nodes the orchestrator took down, while down
}

func (k *realCluster) String() string  { return "kafka-" + kafkareal.Version }
func (k *realCluster) addrs() []string { return k.c.Addrs() }
func (k *realCluster) stop() error {
	if k.own {
		return k.c.Shutdown()
	}
	return nil
}

func (k *realCluster) kill() {
	if k.own {
		k.c.Close()
	}
}

func (k *realCluster) start(ctx context.Context) error { return k.c.WaitServing(ctx) }

// bounce kills the leader of a random partition of the middle topic, which
// the first agent writes (transactions, acks=all) and the second reads.
func (k *realCluster) bounce(ctx context.Context) (string, error) {
	_, mid, _ := streams(k.ns)
	p := int32(k.rnd.IntN(Partitions))
	id, err := k.c.Leader(ctx, mid.Name, p)
	if err != nil {
		return "", err
	}
	if err := k.down(id); err != nil {
		return "", err
	}
	pause := time.Duration(k.rnd.Int64N(int64(time.Second)))
	time.Sleep(pause)
	return fmt.Sprintf("node %d, leader of %s/%d, down %v", id, mid.Name, p, pause.Round(time.Millisecond)), k.up(ctx, id)
}

// rolling restarts node 1, 2, 3 in turn, as an operator upgrading a
// cluster does: SIGTERM, start again, wait until every partition is back in
// sync before the next node.
func (k *realCluster) rolling(ctx context.Context) error {
	for _, n := range k.c.Nodes() {
		k.downed[n.ID] = true
		if err := k.c.Stop(n.ID); err != nil {
			return err
		}
		if err := k.up(ctx, n.ID); err != nil {
			return err
		}
		if err := k.inSync(ctx); err != nil {
			return err
		}
	}
	return nil
}

// outage kills a random node for d.
func (k *realCluster) outage(ctx context.Context, d time.Duration) (string, error) {
	id := 1 + k.rnd.IntN(len(k.c.Nodes()))
	if err := k.down(id); err != nil {
		return "", err
	}
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(d):
	}
	return fmt.Sprintf("node %d down %v", id, d), k.up(ctx, id)
}

func (k *realCluster) down(id int) error {
	k.downed[id] = true
	return k.c.Kill(id)
}

func (k *realCluster) up(ctx context.Context, id int) error {
	if err := k.c.Restart(ctx, id); err != nil {
		return err
	}
	delete(k.downed, id)
	return nil
}

func (k *realCluster) restartCrashed(ctx context.Context) (string, error) {
	for _, n := range k.c.Nodes() {
		if !n.Running() && !k.downed[n.ID] {
			return fmt.Sprintf("kafka node %d", n.ID), k.c.Restart(ctx, n.ID)
		}
	}
	return "", nil
}

// inSync waits until every partition of every topic, internal ones
// included, has all its replicas in sync.
func (k *realCluster) inSync(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.c.Addrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		td, err := adm.ListTopicsWithInternal(ctx)
		lagging := ""
		if err == nil {
			for _, t := range td.Sorted() {
				for _, p := range t.Partitions.Sorted() {
					if len(p.ISR) < len(p.Replicas) || slices.Contains(p.ISR, -1) {
						lagging = fmt.Sprintf("%s/%d (isr %v of %v)", t.Topic, p.Partition, p.ISR, p.Replicas)
					}
				}
			}
		}
		if err == nil && lagging == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions not back in sync after a restart: %s (%v)", lagging, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// externalCluster is a cluster of the user's, given by its seed brokers:
// the soak runs on it without disturbing its brokers (Config.defaults
// refuses broker faults for it).
type externalCluster []string

func (k externalCluster) String() string  { return "external" }
func (k externalCluster) addrs() []string { return k }
func (k externalCluster) start(context.Context) error {
	return nil // provisioning retries until the cluster answers
}
func (k externalCluster) bounce(context.Context) (string, error) { return "", errNoControl }
func (k externalCluster) rolling(context.Context) error          { return errNoControl }
func (k externalCluster) outage(context.Context, time.Duration) (string, error) {
	return "", errNoControl
}
func (k externalCluster) restartCrashed(context.Context) (string, error) { return "", nil }
func (k externalCluster) stop() error                                    { return nil }
func (k externalCluster) kill()                                          {}

// errNoControl is a broker fault asked of a cluster the soak does not run.
var errNoControl = errors.New("soak: no control over the brokers of this cluster")
