package topology_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/topology"
)

// TestBadOptions pins that Run, and every other constructor, refuses an
// option value that cannot work, or an option it does not take, with
// ErrOption and a message naming the option, before it starts anything.
func TestBadOptions(t *testing.T) {
	run := func(opts ...topology.Option) error {
		return topology.Run(t.Context(), counterGraph(), append([]topology.Option{topology.DataDir(t.TempDir())}, opts...)...)
	}
	emitter := func(opts ...topology.Option) error {
		_, err := topology.NewEmitter(clicks, append(opts, topology.Brokers("127.0.0.1:1"))...)
		return err
	}
	view := func(opts ...topology.Option) error {
		_, err := topology.NewView(topology.ExternalTable("counter", topology.Int64()), append(opts, topology.Brokers("127.0.0.1:1"))...)
		return err
	}
	provision := func(opts ...topology.Option) error {
		_, err := topology.Provision(t.Context(), counterGraph(), append(opts, topology.Brokers("127.0.0.1:1"))...)
		return err
	}
	client := func(opts ...topology.Option) error {
		_, err := topology.ClientOptions(append(opts, topology.Brokers("127.0.0.1:1"))...)
		return err
	}
	for _, tc := range []struct {
		name string
		call func(...topology.Option) error
		opt  topology.Option
		want string // in the error
	}{
		{"negative retries", run, topology.Retries(-1), "Retries(-1)"},
		{"zero retry backoff", run, topology.RetryBackoff(0), "RetryBackoff(0s)"},
		{"negative retry backoff", run, topology.RetryBackoff(-time.Second), "RetryBackoff(-1s)"},
		{"zero restart min", run, topology.RestartBackoff(0, time.Second), "RestartBackoff's min(0s)"},
		{"restart min above max", run, topology.RestartBackoff(2*time.Second, time.Second), "min above max"},
		{"empty data dir", run, topology.DataDir(""), `DataDir("")`},
		{"empty listen", run, topology.EmbeddedListen(""), `EmbeddedListen("")`},
		{"empty agent name", run, topology.Agents("counter", ""), "empty agent name"},
		{"empty broker", run, topology.Brokers(""), "empty broker address"},
		{"negative replication", run, topology.Replication(-1), "Replication(-1)"},
		{"zero commit interval", run, topology.ExactlyOnce(0), "ExactlyOnce(0s)"},
		{"negative commit interval", run, topology.ExactlyOnce(-time.Millisecond), "ExactlyOnce(-1ms)"},
		{"negative state memory", run, topology.StateMemory(-1), "StateMemory(-1)"},
		{"emitter with Agents", emitter, topology.Agents("counter"), "NewEmitter does not take Agents"},
		{"emitter with ExactlyOnce", emitter, topology.ExactlyOnce(topology.DefaultCommitInterval), "NewEmitter does not take ExactlyOnce"},
		{"emitter with Retries", emitter, topology.Retries(1), "NewEmitter does not take Retries"},
		{"view with Agents", view, topology.Agents("counter"), "NewView does not take Agents"},
		{"view with EmbeddedListen", view, topology.EmbeddedListen("127.0.0.1:0"), "NewView does not take EmbeddedListen"},
		{"view with bad commit interval", view, topology.ExactlyOnce(0), "ExactlyOnce(0s)"},
		{"provision with bad Run options", provision, topology.Retries(-1), "Retries(-1)"},
		{"client with StateMemory", client, topology.StateMemory(64 << 20), "ClientOptions does not take StateMemory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.opt)
			if !errors.Is(err, topology.ErrOption) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrOption naming %q", err, tc.want)
			}
		})
	}
}

// TestSharedOptions pins that the settings of a deployment (its cluster,
// security, sarama configuration, data dir and logger) can go to every
// constructor in one slice.
func TestSharedOptions(t *testing.T) {
	shared := []topology.Option{topology.Brokers("127.0.0.1:1"), topology.KafkaConfig(topology.DefaultKafkaConfig()),
		topology.WithSecurity(topology.Security{}), topology.DataDir(t.TempDir()), topology.WithLogger(nil)}
	if em, err := topology.NewEmitter(clicks, shared...); errors.Is(err, topology.ErrOption) {
		t.Errorf("NewEmitter: %v", err)
	} else if err == nil {
		em.Close()
	}
	if _, err := topology.NewView(topology.ExternalTable("counter", topology.Int64()), shared...); err != nil {
		t.Errorf("NewView: %v", err)
	}
	if _, err := topology.ClientOptions(shared...); err != nil {
		t.Errorf("ClientOptions: %v", err)
	}
	// Provision takes Run's options: they provision what Run would run.
	run := append(shared, topology.Agents("counter"), topology.Retries(1), topology.ExactlyOnce(topology.DefaultCommitInterval),
		topology.OnProvisioned(func([]string) {}), topology.RestartBackoff(time.Millisecond, time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	if _, err := topology.Provision(ctx, counterGraph(), run...); errors.Is(err, topology.ErrOption) {
		t.Errorf("Provision with Run's options: %v", err)
	}
}
