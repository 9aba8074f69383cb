package cli_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/cli"
	"github.com/sluicehq/sluice/internal/kafkareal"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/internal/proctest"
	"github.com/sluicehq/sluice/topology"
)

// shortSessionMain is the CLI of testGraph whose run command gives Run a
// KafkaConfig with a 3 s session timeout, below the 6 s the embedded broker
// (as Kafka) accepts: a binary that configures its clients badly.
func shortSessionMain() {
	cli.Program{Build: func() (*cobra.Command, error) {
		root := cli.Command(testGraph())
		for _, c := range root.Commands() {
			if c.Name() != "run" {
				continue
			}
			prev := c.PreRunE
			c.PreRunE = func(c *cobra.Command, args []string) error {
				if prev != nil {
					if err := prev(c, args); err != nil {
						return err
					}
				}
				cfg := topology.DefaultKafkaConfig()
				cfg.Consumer.Group.Session.Timeout = 3 * time.Second
				c.SetContext(cli.WithRunOptions(c.Context(), func([]topology.Option) []topology.Option {
					return []topology.Option{topology.KafkaConfig(cfg)}
				}))
				return nil
			}
		}
		return root, nil
	}}.Main()
}

// TestRunRefusedSessionTimeout pins that 'run' with a session timeout the
// broker refuses exits with the usage status and one line that says what
// to change, instead of running on while its agent rejoins forever.
func TestRunRefusedSessionTimeout(t *testing.T) {
	t.Parallel()
	_, stderr, code := run(t, "shortsession", nil, "run", "--listen", "127.0.0.1:0", "--http", "", "--data-dir", t.TempDir())
	if code != cli.ExitUsage {
		t.Fatalf("exit status = %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"sluice: ", "INVALID_SESSION_TIMEOUT", "session timeout 3s", "Consumer.Group.Session.Timeout"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line of stderr = %q, want it to say %q; stderr:\n%s", last, want, stderr)
		}
	}
	if strings.Contains(last, "--help") {
		t.Errorf("last line of stderr = %q: the fix is in the program's KafkaConfig, not a flag", last)
	}
}

// aclKafka is the package's Apache Kafka: one node with a SASL_SSL listener
// whose SASL/PLAIN user aclUser is subject to ACLs (StandardAuthorizer);
// the brokers' own PLAINTEXT listener is a super user's, and what no ACL
// names is allowed.
var aclKafka = kafkareal.Config{
	Nodes:  1,
	Secure: &kafkareal.Listener{Plain: map[string]string{aclUser: aclPassword}},
	Properties: map[string]string{
		"authorizer.class.name":          "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":                    "User:ANONYMOUS",
		"allow.everyone.if.no.acl.found": "true",
	},
}

const aclUser, aclPassword = "agent", "agent-secret"

// TestRunDeniedGroupOnKafka runs 'run' as aclUser against Apache Kafka 4.4
// over SASL_SSL while an ACL denies it READ on its agent's group: Kafka
// answers every join GROUP_AUTHORIZATION_FAILED, and run exits with the
// usage status and one line saying what to grant once the denial outlasted
// the rebalance timeout (20 s), instead of rejoining for ever. With the ACL
// deleted a few seconds into the run, the agent joins and counts.
func TestRunDeniedGroupOnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CLI against Apache Kafka")
	}
	c := kafkareal.Shared(t, aclKafka)
	adm := kafkatest.Admin(t, c.Addrs())
	deny := func() *kadm.ACLBuilder {
		return kadm.NewACLs().Deny("User:" + aclUser).DenyHosts().Groups("counter").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	}
	acl := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s the ACL: %v", what, err)
		}
	}
	args := func() []string {
		return []string{"run", "--brokers", strings.Join(c.SecureAddrs(), ","), "--security-protocol", "SASL_SSL",
			"--sasl-mechanism", "PLAIN", "--sasl-username", aclUser, "--ssl-ca-location", c.Certs().CAFile,
			"--http", "", "--data-dir", t.TempDir()}
	}
	env := []string{"SLUICE_SASL_PASSWORD=" + aclPassword, "SLUICE_LOG_LEVEL=info"}

	res, err := adm.CreateACLs(t.Context(), deny())
	acl("create", errors.Join(err, firstACLErr(res)))
	began := time.Now()
	p := start(t, "", env, args()...)
	code := p.wait(2 * time.Minute)
	stderr := p.stderr.String()
	if code != cli.ExitUsage {
		t.Fatalf("exit status = %d after %v, want %d; stderr:\n%s", code, time.Since(began), cli.ExitUsage, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"sluice: ", `"counter"`, "GROUP_AUTHORIZATION_FAILED", "READ", "kafka-acls"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line of stderr = %q, want it to say %q; stderr:\n%s", last, want, stderr)
		}
	}
	t.Logf("denied: exit %d after %v: %s", code, time.Since(began).Round(time.Second), last)

	p = start(t, "", env, args()...)
	time.Sleep(3 * time.Second) // denied meanwhile
	dres, err := adm.DeleteACLs(t.Context(), deny())
	acl("delete", errors.Join(err, firstDelErr(dres)))
	p.waitLog(regexp.MustCompile(`msg="agent running" agent=counter`), time.Minute)
	kafkatest.Produce(t, c.Addrs(), "clicks", &kgo.Record{Key: []byte("u1"), Value: []byte(`{"page":"/"}`)})
	kafkatest.WaitFor(t, time.Minute, func() bool {
		for _, r := range kafkatest.ConsumeAll(t, c.Addrs(), "counter-table") {
			if string(r.Key) == "u1" {
				return true
			}
		}
		return false
	})
	if code := p.stop(30 * time.Second); code != cli.ExitOK {
		t.Fatalf("run exited %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}

// firstACLErr returns the first error of created ACLs.
func firstACLErr(res kadm.CreateACLsResults) error {
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// firstDelErr returns the first error of deleted ACLs, and an error if none
// matched.
func firstDelErr(res kadm.DeleteACLsResults) error {
	n := 0
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
		n += len(r.Deleted)
	}
	if n == 0 {
		return errors.New("no ACL matched")
	}
	return nil
}

// TestRunDeniedTopicsOnKafka runs 'run' as aclUser against Apache Kafka 4.4
// over SASL_SSL while ACLs deny it an input's READ or an output's WRITE:
// run exits with the usage status and one line naming the operation, the
// topic and the kafka-acls command, instead of retrying for ever. With
// DESCRIBE (and DESCRIBE_CONFIGS, which provisioning reads) allowed on the
// topic, provisioning passes and the agent's fetches (or writes) are
// denied: run rides that out for the rebalance timeout (20 s), then stops.
// Denied READ alone denies DESCRIBE too (any ACL on a topic ends
// allow.everyone.if.no.acl.found for it), so provisioning stops at once.
// serve, whose view of a table is denied its changelog, stops the same way.
func TestRunDeniedTopicsOnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the CLI against Apache Kafka")
	}
	proctest.NonRacePass(t, "it waits 80 s on Kafka's denials; the denial paths run under -race in topology's TestRunStopsOnDeniedACL and TestViewStopsOnDeniedChangelog")
	c := kafkareal.Shared(t, aclKafka)
	adm := kafkatest.Admin(t, c.Addrs())
	env := []string{"SLUICE_SASL_PASSWORD=" + aclPassword, "SLUICE_LOG_LEVEL=info"}
	// The topics exist (provisioned by the brokers' super user): the agent's
	// principal may describe them, or not, but need not create them.
	if _, err := topology.Provision(t.Context(), testGraph(), topology.Brokers(c.Addrs()...)); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	for _, tc := range []struct {
		name     string
		cmd      []string // nil: run
		topic    string
		op       kadm.ACLOperation
		describe bool          // allow DESCRIBE and DESCRIBE_CONFIGS on the topic
		after    time.Duration // the least time before run stops
		want     []string
	}{
		{"READ on the input", nil, "clicks", kadm.OpRead, true, 20 * time.Second,
			[]string{`READ on topic "clicks"`, "TOPIC_AUTHORIZATION_FAILED", "every fetch", "--operation Read --topic clicks"}},
		{"WRITE on the output", nil, "counts", kadm.OpWrite, true, 20 * time.Second,
			[]string{`WRITE on topic "counts"`, "TOPIC_AUTHORIZATION_FAILED", "every write", "--operation Write --topic counts"}},
		{"READ on the input, hiding it", nil, "clicks", kadm.OpRead, false, 0,
			[]string{"provision: ", `DESCRIBE on topic "clicks"`, "READ (an input or table)", "--operation Describe --topic clicks"}},
		{"serve: READ on the table", []string{"serve", "--tables", "counter-table", "--http", "127.0.0.1:0"}, "counter-table", kadm.OpRead, true, 20 * time.Second,
			[]string{`view of "counter-table"`, `READ on topic "counter-table"`, "every fetch", "--operation Read --topic counter-table"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			builders := []*kadm.ACLBuilder{kadm.NewACLs().Deny("User:" + aclUser).DenyHosts().Topics(tc.topic).
				Operations(tc.op).ResourcePatternType(kadm.ACLPatternLiteral)}
			if tc.describe {
				builders = append(builders, kadm.NewACLs().Allow("User:"+aclUser).AllowHosts().Topics(tc.topic).
					Operations(kadm.OpDescribe, kadm.OpDescribeConfigs).ResourcePatternType(kadm.ACLPatternLiteral))
			}
			for _, b := range builders {
				res, err := adm.CreateACLs(t.Context(), b)
				if err = errors.Join(err, firstACLErr(res)); err != nil {
					t.Fatalf("create the ACL: %v", err)
				}
				t.Cleanup(func() {
					if res, err := adm.DeleteACLs(context.Background(), b); errors.Join(err, firstDelErr(res)) != nil {
						t.Errorf("delete the ACL: %v", errors.Join(err, firstDelErr(res)))
					}
				})
			}
			// An input for the agent to write an output for (as the
			// brokers' super user, on their PLAINTEXT listener).
			kafkatest.Produce(t, c.Addrs(), "clicks", &kgo.Record{Key: []byte("u1"), Value: []byte(`{"page":"/"}`)})
			cmd := tc.cmd
			if cmd == nil {
				cmd = []string{"run", "--http", ""}
			}
			began := time.Now()
			p := start(t, "", env, append(cmd, "--brokers", strings.Join(c.SecureAddrs(), ","), "--security-protocol", "SASL_SSL",
				"--sasl-mechanism", "PLAIN", "--sasl-username", aclUser, "--ssl-ca-location", c.Certs().CAFile,
				"--data-dir", t.TempDir())...)
			code := p.wait(2 * time.Minute)
			took := time.Since(began)
			stderr := p.stderr.String()
			if code != cli.ExitUsage {
				t.Fatalf("exit status = %d after %v, want %d; stderr:\n%s", code, took, cli.ExitUsage, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			for _, want := range append(tc.want, "sluice: ", "the cluster's ACLs deny the principal", "kafka-acls") {
				if !strings.Contains(last, want) {
					t.Errorf("last line of stderr = %q, want it to say %q; stderr:\n%s", last, want, stderr)
				}
			}
			if took < tc.after {
				t.Errorf("run stopped after %v, before the %v rebalance timeout", took, tc.after)
			}
			t.Logf("exit %d after %v: %s", code, took.Round(time.Second), last)
		})
	}
}
