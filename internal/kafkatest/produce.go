package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce writes recs to topic synchronously: when it returns, every record
// is acknowledged. A record whose Topic is set goes to that topic instead.
// One call's records may share produced batches; records of separate calls
// never do.
func Produce(t testing.TB, addrs []string, topic string, recs ...*kgo.Record) {
	t.Helper()
	cl := newClient(t, addrs, kgo.DefaultProduceTopic(topic))
	defer cl.Close()
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %q: %v", topic, err)
	}
}
