package kafkareal

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tool classes of Kafka's command-line tools, for [Cluster.Tool].
const (
	// ConsumerGroups is kafka-consumer-groups.sh.
	ConsumerGroups = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
	// Transactions is kafka-transactions.sh.
	Transactions = "org.apache.kafka.tools.TransactionsCommand"
)

// Tool runs one of Kafka's command-line tools (class, such as
// [ConsumerGroups]) against the cluster, with --bootstrap-server set to the
// running nodes, and returns what it printed. A non-zero exit is an error
// carrying the output.
func (c *Cluster) Tool(ctx context.Context, class string, args ...string) (string, error) {
	var seeds []string
	for _, n := range c.nodes {
		if n.Running() {
			seeds = append(seeds, n.Addr)
		}
	}
	args = append([]string{"--bootstrap-server", strings.Join(seeds, ",")}, args...)
	// A tool is a short-lived JVM: the client compiler alone starts it sooner.
	cmd := c.java(ctx, "128m", class, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kafkareal: %s %s: %w\n%s", class, strings.Join(args, " "), err, tail(string(out), 20))
	}
	return string(out), nil
}

// AddSCRAM creates (or changes) a SCRAM user for mechanism (SCRAM-SHA-256
// or SCRAM-SHA-512), through the PLAINTEXT listener.
func (c *Cluster) AddSCRAM(ctx context.Context, mechanism, user, password string) error {
	var m kadm.ScramMechanism
	switch mechanism {
	case "SCRAM-SHA-256":
		m = kadm.ScramSha256
	case "SCRAM-SHA-512":
		m = kadm.ScramSha512
	default:
		return fmt.Errorf("kafkareal: SCRAM mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", mechanism)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...))
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: m, Iterations: 4096, Password: password}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("kafkareal: add SCRAM user %q: %w", user, err)
	}
	return nil
}
