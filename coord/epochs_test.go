package coord

import (
	"testing"

	"mk/logdir"
)

// fenceOnDisk moves broker's replica of topic's partition 0 to follower at
// epoch, as the controller's fence does, creating the replica if needed.
func fenceOnDisk(t *testing.T, c *Cluster, topic string, broker, epoch int) {
	t.Helper()
	l, _, err := logdir.Recover(c.PartitionDir(broker, topic, 0), logdir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.BecomeFollower(int32(epoch)); err != nil {
		t.Fatal(err)
	}
}

// A controller that fenced the old leader's replica at a new epoch and
// died before it published the epoch leaves that replica ahead of the
// metadata. The next controller's first pass moves the epoch past it,
// keeping the leader, which can then lead again; and an election bumps
// past every replica's epoch, not only past the metadata's.
func TestControllerEpochPastUnpublishedFence(t *testing.T) {
	c := newCluster(t)
	brokers := registerBrokers(t, c, 1, 2, 3, 9)
	for _, name := range []string{"kept", "moved"} {
		if _, err := c.CreateTopic(name, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		setPartition(t, c, name, []int{1, 2, 3}, []int{1, 2, 3}, 1)
	}
	// kept: leader 1 at epoch 0 in the metadata, its replica fenced at 1.
	fenceOnDisk(t, c, "kept", 1, 1)
	fenceOnDisk(t, c, "kept", 2, 0)
	// moved: a follower's replica at 6 (fences that were never published
	// twice over), the leader about to die.
	fenceOnDisk(t, c, "moved", 3, 6)
	var log hookLog
	startController(t, c, 9, log.hooks())
	<-log.elected
	waitFor(t, "kept's epoch past its leader's replica", func() bool {
		p := partitionOf(t, c, "kept")
		return p.Leader == 1 && p.LeaderEpoch == 2
	})
	// The audit bumps every partition whose replicas are ahead.
	waitFor(t, "moved's epoch past its follower's replica", func() bool {
		p := partitionOf(t, c, "moved")
		return p.Leader == 1 && p.LeaderEpoch == 7
	})
	if calls := log.callsFor("kept-"); len(calls) != 0 {
		t.Fatalf("the same leader was fenced: %q", calls)
	}
	fenceOnDisk(t, c, "moved", 3, 9) // once more, behind the controller's back
	brokers[1].Close()
	waitFor(t, "moved's new leader past every replica's epoch", func() bool {
		p := partitionOf(t, c, "moved")
		return p.Leader == 2 && p.LeaderEpoch == 10
	})
	if got := log.callsFor("moved-"); len(got) != 1 || got[0] != "moved-0 1->2 epoch 10" {
		t.Fatalf("moved's hook calls %q, want the fence at epoch 10", got)
	}
}
