package client

import (
	"math/rand/v2"
	"slices"
)

// Partitioning matches Kafka's Java producer, so that a key lands on the same
// partition in mk as in Kafka:
//
//   - A record with a key goes to toPositive(murmur2(key)) % partitions
//     (Kafka's BuiltInPartitioner.partitionForKey).
//   - A record without a key goes to a sticky partition, chosen at random and
//     kept until enough bytes have gone to it to fill a batch (KIP-480,
//     KIP-794), so that unkeyed records form few, full batches instead of
//     many small ones.

// murmur2 constants, from Kafka's Utils.murmur2. Changing any of them moves
// every keyed record to a different partition than Kafka would choose.
const (
	murmur2Seed = 0x9747b28c
	murmur2M    = 0x5bd1e995 // mixing constant chosen by murmurhash's author
	murmur2R    = 24
)

// Murmur2 is Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2),
// bit for bit: a 32-bit MurmurHash2 with seed 0x9747b28c, reading 4-byte
// blocks little-endian.
func Murmur2(data []byte) int32 {
	length := len(data)
	h := uint32(murmur2Seed) ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= murmur2M
		k ^= k >> murmur2R
		k *= murmur2M
		h *= murmur2M
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= murmur2M
	}
	h ^= h >> 13
	h *= murmur2M
	h ^= h >> 15
	return int32(h)
}

// ToPositive is Kafka's Utils.toPositive: n with its sign bit cleared. It is
// not the absolute value, and that matters: -1 becomes 2147483647.
func ToPositive(n int32) int32 { return n & 0x7fffffff }

// KeyPartition returns the partition of a record with key in a topic of
// numPartitions partitions, as Kafka's Java producer chooses it. It panics
// if numPartitions is not positive.
func KeyPartition(key []byte, numPartitions int) int32 {
	if numPartitions <= 0 || numPartitions > 1<<31-1 {
		panic("client: KeyPartition: partition count out of range")
	}
	return ToPositive(Murmur2(key)) % int32(numPartitions)
}

// DefaultStickyBytes is Kafka's batch.size default: the bytes an unkeyed
// partition receives before the sticky partitioner moves on.
const DefaultStickyBytes = 16384

// StickyPartitioner chooses partitions for records without a key, as Kafka's
// BuiltInPartitioner does: it sticks to one partition until StickyBytes bytes
// have been appended to it (KIP-794) or the caller says its batch is full
// (KIP-480), then picks another one at random. The new partition differs
// from the old one whenever there is a choice, so that no partition receives
// two batches in a row by chance.
//
// A StickyPartitioner serves one topic and is not safe for concurrent use.
type StickyPartitioner struct {
	// StickyBytes is how many bytes go to a partition before switching;
	// 0 means switch only on OnBatchFull.
	StickyBytes int

	rng      *rand.Rand
	current  int32 // -1 before the first choice and after a switch
	previous int32 // the partition before current, avoided when choosing
	bytes    int   // bytes appended to current
	scratch  []int32
}

// NewStickyPartitioner returns a partitioner that switches after
// DefaultStickyBytes and draws partitions from a generator seeded with seed.
// Production code passes a random seed; tests pass a fixed one and get the
// same partitions every run.
func NewStickyPartitioner(seed uint64) *StickyPartitioner {
	return &StickyPartitioner{
		StickyBytes: DefaultStickyBytes,
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		current:     -1,
		previous:    -1,
	}
}

// Partition returns the partition for the next unkeyed record of a topic
// with numPartitions partitions. available lists the partitions that can
// take records now (those with a live leader); nil means all of them. When
// none is available it chooses among all, and the send will fail or wait
// there, as in Kafka. It panics if numPartitions is not positive.
func (p *StickyPartitioner) Partition(numPartitions int, available []int32) int32 {
	if numPartitions <= 0 {
		panic("client: StickyPartitioner: partition count out of range")
	}
	if p.current >= 0 && int(p.current) < numPartitions &&
		(available == nil || slices.Contains(available, p.current)) {
		return p.current
	}
	p.choose(numPartitions, available)
	return p.current
}

func (p *StickyPartitioner) choose(numPartitions int, available []int32) {
	candidates := p.scratch[:0]
	for _, a := range available {
		if a >= 0 && int(a) < numPartitions {
			candidates = append(candidates, a)
		}
	}
	if len(candidates) == 0 {
		for i := range numPartitions {
			candidates = append(candidates, int32(i))
		}
	}
	p.scratch = candidates
	if len(candidates) > 1 {
		if i := slices.Index(candidates, p.previous); i >= 0 {
			candidates[i] = candidates[len(candidates)-1]
			candidates = candidates[:len(candidates)-1]
		}
	}
	p.current = candidates[p.rng.IntN(len(candidates))]
	p.bytes = 0
}

// Appended tells p that a record of size bytes went to the partition that
// Partition returned. Once StickyBytes bytes have gone there, the next
// Partition call chooses a new partition.
func (p *StickyPartitioner) Appended(size int) {
	if p.current < 0 {
		return
	}
	p.bytes += size
	if p.StickyBytes > 0 && p.bytes >= p.StickyBytes {
		p.OnBatchFull()
	}
}

// OnBatchFull tells p that the batch for the current partition is full (or
// was sent): the next Partition call chooses a new partition.
func (p *StickyPartitioner) OnBatchFull() {
	if p.current >= 0 {
		p.previous = p.current
	}
	p.current = -1
	p.bytes = 0
}
