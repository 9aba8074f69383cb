package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// CreateTopic creates topic with the given number of partitions, a
// replication factor of 1 and configs (for example
// {"cleanup.policy": &compact}); configs may be nil.
func CreateTopic(t testing.TB, addrs []string, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	cl := newClient(t, addrs)
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(t.Context(), partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %q: %v", topic, err)
	}
}
