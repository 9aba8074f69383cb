package gokax

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMurmur2KafkaVectors pins murmur2 to Kafka's UtilsTest.testMurmur2 vectors.
func TestMurmur2KafkaVectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		if got := int32(murmur2Sum([]byte(tc.in))); got != tc.want {
			t.Errorf("murmur2(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestPartitionMatchesFranzGo pins the reason for the hasher: goka's partition
// arithmetic over Hasher must put every key where franz-go's default (Kafka's)
// partitioner puts it.
func TestPartitionMatchesFranzGo(t *testing.T) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for n := int32(1); n <= 12; n++ {
		for i := range 2000 {
			key := fmt.Sprintf("key-%d", i)
			want := int32(p.Partition(&kgo.Record{Key: []byte(key)}, int(n)))
			// goka's processor.hash and view.hash:
			h := Hasher()
			h.Write([]byte(key))
			hv := int32(h.Sum32())
			if hv < 0 {
				hv = -hv
			}
			if got := hv % n; got != want {
				t.Fatalf("goka partition of %q among %d = %d, want %d", key, n, got, want)
			}
			if got := Partition([]byte(key), n); got != want {
				t.Fatalf("Partition(%q, %d) = %d, want %d", key, n, got, want)
			}
		}
	}
}
