package gokax

import "hash"

// Hasher returns the key hasher sluice gives goka: Kafka's murmur2 (the Java
// client's default partitioner, franz-go's, and librdkafka's murmur2_random), with
// the sign bit cleared.
//
// goka's default is FNV-1a, and it computes a key's partition as
// abs(int32(hash)) % partitions in its processors, views and producer. A record
// keyed by a Java, franz-go or kcat producer would then land on another partition
// than the one goka writes that key's table entry to, splitting state and losing it
// on recovery. Clearing the sign bit in the hash makes goka's arithmetic equal
// Kafka's toPositive(murmur2(key)) % partitions.
func Hasher() hash.Hash32 { return new(murmur2) }

// Partition returns the partition of key among n partitions, as every Kafka
// client with the default partitioner and every sluice agent computes it.
func Partition(key []byte, n int32) int32 {
	return int32(murmur2Sum(key)&0x7fffffff) % n
}

type murmur2 struct{ b []byte }

func (h *murmur2) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }
func (h *murmur2) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
func (h *murmur2) Reset()         { h.b = h.b[:0] }
func (h *murmur2) Size() int      { return 4 }
func (h *murmur2) BlockSize() int { return 4 }
func (h *murmur2) Sum32() uint32  { return murmur2Sum(h.b) & 0x7fffffff }

// murmur2Sum is Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2).
func murmur2Sum(b []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[3])<<24 | uint32(b[2])<<16 | uint32(b[1])<<8 | uint32(b[0])
		b = b[4:]
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
