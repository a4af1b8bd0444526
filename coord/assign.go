package coord

import (
	"hash/fnv"
)

// Replica assignment is Kafka's rack-unaware placement
// (AdminUtils.assignReplicasToBrokersRackUnaware, now
// StripedReplicaPlacer's rack-unaware case). With brokers b0..b(n-1) in
// id order, a start index s and a replica shift k:
//
//   - partition p's first replica (its preferred leader) is b[(p+s) % n],
//     so leaders go round-robin over the brokers;
//   - the shift grows by one each time p passes a multiple of n, and
//     replica j>0 of p is b[(first + 1 + (k+j-1) % (n-1)) % n], so the
//     followers of one broker's partitions are spread over the others
//     rather than always being its next neighbours.
//
// For 5 brokers, 10 partitions, replication factor 3, s = k = 0 (Kafka's
// own worked example):
//
//	broker:   0   1   2   3   4
//	1st:     p0  p1  p2  p3  p4
//	         p5  p6  p7  p8  p9
//	2nd:     p4  p0  p1  p2  p3
//	         p8  p9  p5  p6  p7
//	3rd:     p3  p4  p0  p1  p2
//	         p7  p8  p9  p5  p6
//
// Kafka draws s and k at random so that many single-partition topics do not
// all lead on the first broker. mk derives them from an FNV-1a hash of the
// topic name instead: just as spread over topics, but the same topic gets
// the same assignment every time, which tests and people can rely on.

// assignSeeds returns the start index and replica shift for a topic on n
// brokers.
func assignSeeds(topic string, n int) (startIndex, replicaShift int) {
	h := fnv.New64a()
	h.Write([]byte(topic))
	sum := h.Sum64()
	return int(sum % uint64(n)), int((sum >> 32) % uint64(n))
}

// assignReplicas places partitions firstPartition..firstPartition+count-1
// of topic on brokers (sorted ids, len >= replicationFactor >= 1). Because
// the shift is advanced for the partitions before firstPartition as if they
// had been placed in the same call, adding partitions to a topic on an
// unchanged set of brokers gives exactly what creating it with the larger
// count would have given.
func assignReplicas(topic string, brokers []int, firstPartition, count, replicationFactor int) [][]int {
	start, shift := assignSeeds(topic, len(brokers))
	return assignReplicasFixed(brokers, firstPartition, count, replicationFactor, start, shift)
}

// assignReplicasFixed is the placement with a given start index and shift.
func assignReplicasFixed(brokers []int, firstPartition, count, replicationFactor, startIndex, replicaShift int) [][]int {
	n := len(brokers)
	// Kafka's loop bumps the shift whenever p > 0 is a multiple of n; catch
	// up for the partitions before firstPartition.
	if firstPartition > 0 {
		replicaShift += (firstPartition - 1) / n
	}
	out := make([][]int, 0, count)
	for p := firstPartition; p < firstPartition+count; p++ {
		if p > 0 && p%n == 0 {
			replicaShift++
		}
		first := (p + startIndex) % n
		replicas := []int{brokers[first]}
		for j := 0; j < replicationFactor-1; j++ {
			shift := 1 + (replicaShift+j)%(n-1)
			replicas = append(replicas, brokers[(first+shift)%n])
		}
		out = append(out, replicas)
	}
	return out
}
