package coord

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Limits on what one machine can hold. Each says what it bounds and why;
// CreateTopic and AlterTopic check them before anything is allocated or
// written, so a partition count a user typed by mistake is a one-line
// error, not a broker that runs out of file descriptors later.
const (
	// MaxPartitionsPerRequest is Kafka's limit on the partitions one
	// CreateTopics or CreatePartitions request may create
	// (ReplicationControlManager.MAX_PARTITIONS_PER_BATCH, 10000: larger
	// requests ran Kafka's controller out of memory). A topic may grow
	// past it by later alters, within the file limits below.
	MaxPartitionsPerRequest = 10000

	// FilesPerReplica is how many files a broker keeps open for each
	// replica it hosts: the state file, the append and flush locks, and
	// the active segment's .log, .index and .timeindex (6, measured), plus
	// up to 2 to replicate it (a follower reads its leader's state and a
	// segment; a leader reads each follower's state).
	FilesPerReplica = 8

	// FilesPerConsumedPartition is how many files a consumer keeps open
	// for each partition it reads: the state file and the segment being
	// read, and for a group member the partition's ownership lock.
	FilesPerConsumedPartition = 3

	// ReservedFiles are the files a process needs besides its partitions:
	// standard streams, metadata files, the inotify instance, the Kafka
	// listener's connections.
	ReservedFiles = 256

	// NameMax is the longest file name Linux file systems take (NAME_MAX).
	NameMax = 255
)

// OpenFileLimit returns this process's limit on open files
// (RLIMIT_NOFILE; the Go runtime raises the soft limit to the hard one at
// start, so it is what `ulimit -Hn` says).
func OpenFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024 // the usual default soft limit
	}
	if rl.Cur > 1<<30 {
		return 1 << 30
	}
	return int(rl.Cur)
}

// replicasForFiles is how many replicas a broker whose open file limit is
// limit can host.
func replicasForFiles(limit int) int {
	return max(limit-ReservedFiles, 0) / FilesPerReplica
}

// MaxPartitionsPerTopic is the largest partition count a topic may have
// on this machine: a consumer of the whole topic (mk consume, one group
// member) keeps FilesPerConsumedPartition files open per partition, and
// it must fit in the open file limit of this process, which is what the
// consumers started from the same shell get.
func MaxPartitionsPerTopic() int {
	return max(OpenFileLimit()-ReservedFiles, 0) / FilesPerConsumedPartition
}

// inotifyInstances is fs.inotify.max_user_instances: how many inotify
// instances one user may have (128 by default).
func inotifyInstances() int {
	data, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		return 128
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return 128
	}
	return n
}

// MaxLocalBrokers is how many brokers mk cluster start may run on this
// machine, and why. Every mk process uses one inotify instance for its
// watches, and a user may have fs.inotify.max_user_instances of them (128
// by default); half are left for clients (consumers, producers, other
// tools), since a process without one falls back to slow polling.
func MaxLocalBrokers() (int, string) {
	n := inotifyInstances()
	return max(n/2, 1), fmt.Sprintf("each broker uses one of the %d inotify instances a user may have (fs.inotify.max_user_instances) and half are kept for clients", n)
}

// checkPartitionCount checks a new partition count of topic name that
// adds added partitions to a topic of total partitions in all.
func checkPartitionCount(name string, total, added int) error {
	bad := func(format string, args ...any) error {
		return newError(ErrInvalidPartitions, "invalid number of partitions %d for topic %s: "+format, append([]any{total, name}, args...)...)
	}
	if added > MaxPartitionsPerRequest {
		return bad("at most %d partitions can be created at once (Kafka's limit per request)", MaxPartitionsPerRequest)
	}
	if limit, perTopic := OpenFileLimit(), MaxPartitionsPerTopic(); total > perTopic {
		return bad("a consumer of the whole topic keeps %d files open per partition and the open file limit (RLIMIT_NOFILE, ulimit -n) is %d, which allows at most %d partitions; raise the limit or use fewer partitions",
			FilesPerConsumedPartition, limit, perTopic)
	}
	if n := partitionDirNameLen(name, total); n > NameMax {
		return bad("the directory name of partition %d (%s...-%d) would be %d bytes, over the %d-byte file name limit; use a shorter topic name or fewer partitions",
			total-1, name[:min(len(name), 20)], total-1, n, NameMax)
	}
	return nil
}

// partitionDirNameLen is the length of the longest replica directory name
// <topic>-<partition> of a topic with partitions partitions. It is one
// file name, so it must fit in NameMax: a 249-character topic (Kafka's
// longest) can have partitions 0 to 99999.
func partitionDirNameLen(topic string, partitions int) int {
	return len(topic) + 1 + len(strconv.Itoa(partitions-1))
}

// checkBrokerCapacity checks that the live brokers can hold their replicas
// once the partitions add are placed: each hosts at most as many replicas
// as its open file limit allows (FilesPerReplica each). topics are the
// existing topics (the one being altered included, before the change).
func (c *Cluster) checkBrokerCapacity(topics []*Topic, add []Partition) error {
	hosted := map[int]int{}
	for _, t := range topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				hosted[r]++
			}
		}
	}
	adding := map[int]int{}
	for _, p := range add {
		for _, r := range p.Replicas {
			adding[r]++
		}
	}
	for id, n := range adding {
		limit := c.brokerOpenFileLimit(id)
		if capacity := replicasForFiles(limit); hosted[id]+n > capacity {
			return newError(ErrInvalidPartitions,
				"broker %d would host %d replicas, more than the %d it can: a broker keeps up to %d files open per replica and its open file limit (RLIMIT_NOFILE) is %d; raise the limit (ulimit -n before mk cluster start), start more brokers, or use fewer partitions",
				id, hosted[id]+n, capacity, FilesPerReplica, limit)
		}
	}
	return nil
}

// brokerOpenFileLimit is the open file limit broker id registered with,
// or this process's when it recorded none.
func (c *Cluster) brokerOpenFileLimit(id int) int {
	var f brokerFile
	if readJSON(c.brokerJSONPath(id), &f) == nil && f.MaxOpenFiles > 0 {
		return f.MaxOpenFiles
	}
	return OpenFileLimit()
}
