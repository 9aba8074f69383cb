package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Client returns a kgo client seeded with addrs and configured by opts,
// closed in t.Cleanup.
func Client(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl := newClient(t, addrs, opts...)
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client on addrs, closed in t.Cleanup.
func Admin(t testing.TB, addrs []string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(Client(t, addrs))
}

// newClient is Client for the helpers, which close their clients before
// they return: a test that polls a helper in WaitFor would otherwise pile up
// clients until it ends.
func newClient(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new kafka client: %v", err)
	}
	return cl
}
