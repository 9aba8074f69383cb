package topology_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/topology"
)

// TestPartition pins that Partition agrees with Kafka's default partitioner
// (franz-go's sticky key partitioner hashes keys with murmur2, as the Java
// client does) for every partition count a topic is likely to have.
func TestPartition(t *testing.T) {
	kafka := kgo.StickyKeyPartitioner(nil).ForTopic("")
	keys := []string{"", "a", "visa-1", "user-42", "ключ", "\x00\xff"}
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("V%06d", i))
	}
	for n := int32(1); n <= 64; n++ {
		for _, k := range keys {
			want := int32(kafka.Partition(&kgo.Record{Key: []byte(k)}, int(n)))
			if got := topology.Partition(k, n); got != want {
				t.Fatalf("Partition(%q, %d) = %d, Kafka's partitioner says %d", k, n, got, want)
			}
		}
	}
	if got := topology.Partition("a", 0); got != 0 {
		t.Errorf("Partition(a, 0) = %d, want 0", got)
	}
}
