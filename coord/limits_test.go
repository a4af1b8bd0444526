package coord

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// A partition count from anywhere (a flag, num.partitions in cluster.json,
// a Kafka client's CreateTopics) is checked before any partition is
// allocated: MaxInt32 partitions used to run the process out of memory.
func TestPartitionLimits(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	for _, n := range []int{math.MaxInt32, math.MaxInt64, MaxPartitionsPerRequest + 1} {
		_, err := c.CreateTopic("big", n, 1, nil)
		if !errors.Is(err, ErrInvalidPartitions) || !strings.Contains(err.Error(), "at most 10000 partitions can be created at once") {
			t.Errorf("CreateTopic(%d partitions) = %v; want ErrInvalidPartitions, Kafka's limit per request", n, err)
		}
	}
	if _, err := c.CreateTopic("t", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{math.MaxInt32, math.MaxInt64} {
		if _, err := c.AlterTopic("t", n, nil, nil); !errors.Is(err, ErrInvalidPartitions) {
			t.Errorf("AlterTopic(%d partitions) = %v; want ErrInvalidPartitions", n, err)
		}
	}
	if _, err := c.Topic("big"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("a refused topic exists: %v", err)
	}
}

// The directory <topic>-<partition> must be one file name: a 249-character
// topic can have partitions 0..99999 (5 digits), not 100001.
func TestPartitionDirectoryNameFits(t *testing.T) {
	long := strings.Repeat("t", maxTopicNameLength)
	if n := partitionDirNameLen(long, 100000); n != NameMax {
		t.Errorf("partition 99999 of a 249-character topic: %d bytes, want %d", n, NameMax)
	}
	if n := partitionDirNameLen(long, 100001); n <= NameMax {
		t.Errorf("partition 100000 of a 249-character topic: %d bytes, want more than %d", n, NameMax)
	}
	if n := partitionDirNameLen("t", 1); n != 3 {
		t.Errorf("t-0: %d bytes", n)
	}
}

// A broker hosts at most (limit - ReservedFiles) / FilesPerReplica replicas,
// by the open file limit it registered with.
func TestBrokerCapacity(t *testing.T) {
	if got := replicasForFiles(400); got != 18 {
		t.Errorf("replicasForFiles(400) = %d, want 18", got)
	}
	if got := replicasForFiles(100); got != 0 {
		t.Errorf("replicasForFiles(100) = %d, want 0", got)
	}
}
