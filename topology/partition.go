package topology

import "github.com/sluicehq/sluice/internal/gokax"

// Partition returns the partition of key among partitions partitions, as
// every sluice agent, emitter and view computes it and as Kafka's default
// partitioner does (murmur2 with the sign bit cleared: the Java client's,
// franz-go's and librdkafka's murmur2_random): the partition of a topic where
// key's records, and of a co-partitioned table where its state, are. It
// returns 0 for partitions below 1.
func Partition(key string, partitions int32) int32 {
	if partitions < 1 {
		return 0
	}
	return gokax.Partition([]byte(key), partitions)
}
