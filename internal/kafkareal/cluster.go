package kafkareal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testcert"
)

// StartTimeout bounds how long [Start] and [Cluster.Restart] wait for nodes
// to serve. A node starts in 3-5 s on a quiet 2-core machine.
var StartTimeout = 2 * time.Minute

// Cluster is a running Apache Kafka cluster of KRaft nodes on loopback. Its
// methods are safe for concurrent use.
type Cluster struct {
	cfg   Config
	dir   string
	temp  bool // dir is ours to remove
	home  string
	nodes []*Node
	sp    *spawner
	certs *testcert.Set // made for a Secure listener without files

	mu     sync.Mutex
	closed bool
}

// Node is one node of a [Cluster]: a controller and a broker in one JVM.
type Node struct {
	// ID is the node's node.id, 1 to the number of nodes.
	ID int
	// Addr is its PLAINTEXT listener, host:port.
	Addr string
	// SecureAddr is its [Config.Secure] listener, "" without one.
	SecureAddr string

	dir            string
	port           int
	controllerPort int
	securePort     int

	mu   sync.Mutex
	proc *process // nil while stopped
}

// Start installs Kafka if needed (see [Install]), formats and starts a
// cluster of cfg.Nodes nodes, and returns once every node serves clients.
// The caller must [Cluster.Close] it; every JVM it started also dies with
// the calling process. It fails with [ErrUnavailable] when Java or Maven is
// missing.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	home, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Nodes <= 0 {
		cfg.Nodes = 1
	}
	if cfg.Heap == "" {
		cfg.Heap = "256m"
	}
	c := &Cluster{cfg: cfg, dir: cfg.Dir, home: home}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "sluice-kafka-"); err != nil {
			return nil, fmt.Errorf("kafkareal: %w", err)
		}
		c.temp = true
	}
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return nil, fmt.Errorf("kafkareal: %w", err)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafkareal: %w", err)
	}
	fresh, err := c.layout()
	if err != nil {
		c.removeTemp()
		return nil, err
	}
	c.sp = newSpawner()
	if err := c.start(ctx, fresh); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// layout assigns ports and directories to the nodes, from cluster.txt in
// the cluster's directory if it has one, and writes their configuration.
// It reports whether the cluster is new (its nodes need formatting).
func (c *Cluster) layout() (fresh bool, err error) {
	saved := filepath.Join(c.dir, "cluster.txt")
	ports, err := readPorts(saved)
	if err != nil {
		return false, err
	}
	fresh = ports == nil
	perNode := 2
	if c.cfg.Secure != nil {
		perNode = 3
	}
	if fresh {
		if ports, err = freePorts(c.cfg.Port, perNode*c.cfg.Nodes); err != nil {
			return false, err
		}
	}
	if len(ports) != perNode*c.cfg.Nodes {
		return false, fmt.Errorf("kafkareal: %s is a cluster of another shape (%d ports, want %d): remove the directory", c.dir, len(ports), perNode*c.cfg.Nodes)
	}
	for i := range c.cfg.Nodes {
		n := &Node{ID: i + 1, dir: filepath.Join(c.dir, fmt.Sprintf("node-%d", i+1))}
		n.port, n.controllerPort = ports[i], ports[c.cfg.Nodes+i]
		n.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
		if c.cfg.Secure != nil {
			n.securePort = ports[2*c.cfg.Nodes+i]
			n.SecureAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(n.securePort))
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.writeConfig(); err != nil {
		return false, err
	}
	if fresh {
		var b strings.Builder
		for _, p := range ports {
			fmt.Fprintln(&b, p)
		}
		if err := os.WriteFile(saved, []byte(b.String()), 0o644); err != nil {
			return false, fmt.Errorf("kafkareal: %w", err)
		}
	}
	return fresh, nil
}

// writeConfig writes the logging configuration, the TLS keystore, and each
// node's server.properties.
func (c *Cluster) writeConfig() error {
	if err := os.WriteFile(filepath.Join(c.dir, "log4j2.properties"), []byte(log4j), 0o644); err != nil {
		return fmt.Errorf("kafkareal: %w", err)
	}
	if l := c.cfg.Secure; l != nil {
		if l.CertFile == "" {
			certs, err := testcert.New(filepath.Join(c.dir, "certs"))
			if err != nil {
				return fmt.Errorf("kafkareal: certificates: %w", err)
			}
			c.certs = certs
			cp := *l
			cp.CertFile, cp.KeyFile = certs.ServerCert, certs.ServerKey
			c.cfg.Secure = &cp
			l = &cp
		}
		if l.ClientCAFile != "" {
			// Kafka reads the file again at a restart; the caller's may be gone.
			b, err := os.ReadFile(l.ClientCAFile)
			if err != nil {
				return fmt.Errorf("kafkareal: %w", err)
			}
			cp := *l
			cp.ClientCAFile = filepath.Join(c.dir, "truststore.pem")
			if err := os.WriteFile(cp.ClientCAFile, b, 0o644); err != nil {
				return fmt.Errorf("kafkareal: %w", err)
			}
			c.cfg.Secure = &cp
			l = &cp
		}
		// Kafka's PEM keystore is one file: the key, then the certificate chain.
		key, err := os.ReadFile(l.KeyFile)
		if err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
		cert, err := os.ReadFile(l.CertFile)
		if err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
		if err := os.WriteFile(filepath.Join(c.dir, "keystore.pem"), append(key, cert...), 0o600); err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
	}
	for _, n := range c.nodes {
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
		if err := os.WriteFile(filepath.Join(n.dir, "server.properties"), []byte(c.properties(n)), 0o644); err != nil {
			return fmt.Errorf("kafkareal: %w", err)
		}
	}
	return nil
}

// start formats the nodes of a fresh cluster, starts every node and waits
// until all serve.
func (c *Cluster) start(ctx context.Context, fresh bool) error {
	if fresh {
		if err := c.format(ctx); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if err := c.startNode(n); err != nil {
			return err
		}
	}
	return c.WaitServing(ctx)
}

// java returns the command that runs a Java class of Kafka with a heap of at
// most heap.
func (c *Cluster) java(ctx context.Context, heap, class string, args ...string) *exec.Cmd {
	jargs := []string{
		"-Xms32m", "-Xmx" + heap,
		// One GC thread and no concurrent phases: the machine has 2 cores
		// for every node and the tests.
		"-XX:+UseSerialGC",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
	}
	jargs = append(jargs, c.cfg.JVMOptions...)
	jargs = append(jargs,
		"-Dlog4j2.configurationFile="+filepath.Join(c.dir, "log4j2.properties"),
		"-cp", filepath.Join(c.home, "libs", "*"),
		class,
	)
	java, err := exec.LookPath("java")
	if err != nil {
		java = "java" // Install checked; the command then fails with the reason
	}
	return exec.CommandContext(ctx, java, append(jargs, args...)...)
}

// startNode starts n's JVM, its output appended to n's server.log.
func (c *Cluster) startNode(n *Node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		return nil
	}
	log, err := os.OpenFile(filepath.Join(n.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("kafkareal: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	cmd := c.java(context.Background(), c.cfg.Heap, "kafka.Kafka", filepath.Join(n.dir, "server.properties"))
	cmd.Stdout, cmd.Stderr = log, log
	p, err := run(c.sp, cmd)
	if err != nil {
		return fmt.Errorf("kafkareal: start node %d: %w", n.ID, err)
	}
	n.proc = p
	return nil
}

// Addrs returns the PLAINTEXT address of every node, running or not.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr
	}
	return out
}

// SecureAddrs returns the address of every node's [Config.Secure] listener.
func (c *Cluster) SecureAddrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.SecureAddr
	}
	return out
}

// Certs returns the certificates Start made for a [Config.Secure] listener
// without certificate files (the CA a client trusts, and a client
// certificate it signed), nil otherwise.
func (c *Cluster) Certs() *testcert.Set { return c.certs }

// Nodes returns the cluster's nodes, in node id order.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Dir returns the cluster's directory: DIR/node-N/server.log is node N's log.
func (c *Cluster) Dir() string { return c.dir }

// Node returns the node with id, or nil.
func (c *Cluster) Node(id int) *Node {
	if id < 1 || id > len(c.nodes) {
		return nil
	}
	return c.nodes[id-1]
}

// Running reports whether the node's JVM runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// Exited returns a channel closed when the node's running JVM exits
// (already closed while it is down).
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return n.proc.done
}

// Pid returns the process id of the node's JVM, 0 while it is down.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.exited() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Kill sends SIGKILL to node id's JVM and waits for it to die.
func (c *Cluster) Kill(id int) error {
	n := c.Node(id)
	if n == nil {
		return fmt.Errorf("kafkareal: no node %d", id)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		n.proc.kill()
		n.proc = nil
	}
	return nil
}

// Stop stops node id gracefully (SIGTERM: it moves its leaderships away and
// deregisters), killing it after a minute.
func (c *Cluster) Stop(id int) error {
	n := c.Node(id)
	if n == nil {
		return fmt.Errorf("kafkareal: no node %d", id)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil {
		if !n.proc.stop(time.Minute) {
			return fmt.Errorf("kafkareal: node %d did not stop within a minute of SIGTERM: killed", id)
		}
		n.proc = nil
	}
	return nil
}

// Restart starts node id again if it is down (after [Cluster.Kill] or
// [Cluster.Stop]) and waits until the cluster serves with every node.
func (c *Cluster) Restart(ctx context.Context, id int) error {
	n := c.Node(id)
	if n == nil {
		return fmt.Errorf("kafkareal: no node %d", id)
	}
	if err := c.startNode(n); err != nil {
		return err
	}
	return c.WaitServing(ctx)
}

// WaitServing waits until every node that runs answers metadata requests
// and is registered (unfenced) with the controller, or [StartTimeout]
// passed. It fails early when a node's JVM exits.
func (c *Cluster) WaitServing(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	var running []*Node
	for _, n := range c.nodes {
		if n.Running() {
			running = append(running, n)
		}
	}
	var last error
	for {
		for _, n := range running {
			if !n.Running() {
				return fmt.Errorf("kafkareal: node %d exited while starting; see %s", n.ID, filepath.Join(n.dir, "server.log"))
			}
		}
		last = c.serving(ctx, running)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkareal: cluster in %s not serving after %v: %w (last: %v)", c.dir, StartTimeout, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// serving returns nil if each of nodes, asked alone, lists all of them as
// brokers.
func (c *Cluster) serving(ctx context.Context, nodes []*Node) error {
	for _, n := range nodes {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.DialTimeout(time.Second), kgo.RequestRetries(0))
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		meta, err := kadm.NewClient(cl).BrokerMetadata(rctx)
		cancel()
		cl.Close()
		if err != nil {
			return fmt.Errorf("node %d: %w", n.ID, err)
		}
		for _, o := range nodes {
			if !slices.Contains(meta.Brokers.NodeIDs(), int32(o.ID)) {
				return fmt.Errorf("node %d does not list node %d as a broker yet", n.ID, o.ID)
			}
		}
	}
	return nil
}

// Leader returns the node id of the leader of topic's partition, as a
// running node reports it.
func (c *Cluster) Leader(ctx context.Context, topic string, partition int32) (int, error) {
	var seeds []string
	for _, n := range c.nodes {
		if n.Running() {
			seeds = append(seeds, n.Addr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafkareal: metadata of %q: %w", topic, err)
	}
	t, ok := td[topic]
	if !ok || t.Err != nil {
		return 0, fmt.Errorf("kafkareal: topic %q: %v", topic, t.Err)
	}
	p, ok := t.Partitions[partition]
	if !ok {
		return 0, fmt.Errorf("kafkareal: topic %q has no partition %d", topic, partition)
	}
	if p.Err != nil || p.Leader < 0 {
		return 0, fmt.Errorf("kafkareal: %s/%d has no leader: %v", topic, partition, p.Err)
	}
	return int(p.Leader), nil
}

// Close kills every node (a test cluster needs no graceful stop) and
// removes the cluster's directory if Start made it.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, n := range c.nodes {
		c.Kill(n.ID)
	}
	if c.sp != nil {
		c.sp.close()
	}
	return c.removeTemp()
}

// Shutdown stops every node gracefully and at once (one by one, the last
// would wait for a controller quorum that is gone), for a cluster whose Dir
// is kept.
func (c *Cluster) Shutdown() error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = c.Stop(n.ID) })
	}
	wg.Wait()
	return errors.Join(append(errs, c.Close())...)
}

func (c *Cluster) removeTemp() error {
	if !c.temp {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// readPorts returns the ports saved in path, nil if it does not exist.
func readPorts(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kafkareal: %w", err)
	}
	var ports []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("kafkareal: %s: %w", path, err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// freePorts returns n loopback ports: first, first+1, ... if first > 0,
// else ports free now.
func freePorts(first, n int) ([]int, error) {
	var ports []int
	if first > 0 {
		for i := range n {
			ports = append(ports, first+i)
		}
		return ports, nil
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kafkareal: free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
