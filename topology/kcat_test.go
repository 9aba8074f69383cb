package topology_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/topology"
)

// TestKcatProducesIntoEmbeddedBroker shows a third-party Kafka client (kcat, on
// librdkafka) writing into the embedded broker and a sluice agent processing what
// it wrote. kcat's murmur2 partitioner must agree with sluice's on every key: after
// the agent's state is rebuilt from its changelog, a key's count goes on only if
// kcat put the key on the partition whose changelog holds it (librdkafka's default,
// consistent_random, fails this). `make test` installs kcat.
func TestKcatProducesIntoEmbeddedBroker(t *testing.T) {
	const keys, perKey = 50, 4
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not found (make test installs it with apt-get): %v", err)
	}
	b := kafkatest.Start(t)
	addrs := b.Addrs()
	g := counterGraph()
	dir := t.TempDir()
	opts := []topology.Option{topology.Brokers(addrs...), topology.DataDir(dir)}
	if _, err := topology.Provision(t.Context(), g, opts...); err != nil {
		t.Fatal(err)
	}
	produce := func(perKey int) {
		t.Helper()
		var in bytes.Buffer
		for i := range perKey {
			for k := range keys {
				fmt.Fprintf(&in, "user-%d:click-%d\n", k, i)
			}
		}
		cmd := exec.CommandContext(t.Context(), kcat, "-P", "-b", strings.Join(addrs, ","), "-t", clicks.Name,
			"-K:", "-X", "partitioner=murmur2_random", "-X", "enable.idempotence=true")
		cmd.Stdin = &in
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
	}
	stop := running(t, g, opts...)
	produce(perKey)
	latest(t, addrs, counts.Name, keys, perKey)

	// Rebuild the state from the changelog: the counts go on only if each key's
	// changelog records sit in the partition kcat sent the key to.
	stop()
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	running(t, g, opts...)
	produce(1)
	latest(t, addrs, counts.Name, keys, perKey+1)

	// And kcat reads what sluice wrote: the last count of a key, as text.
	out, err := exec.CommandContext(t.Context(), kcat, "-C", "-b", strings.Join(addrs, ","), "-t", counts.Name,
		"-e", "-q", "-f", "%k=%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	if !strings.Contains(string(out), fmt.Sprintf("user-7=%d\n", perKey+1)) {
		t.Fatalf("kcat -C output has no line user-7=%d:\n%s", perKey+1, out)
	}
}
