package coord

import (
	"errors"
	"testing"
)

// kafkaMembers gives group its Kafka members, as a coordinator (broker 1)
// taking an unrun group over would.
func kafkaMembers(t *testing.T, c *Cluster, group string, ids ...string) KafkaFence {
	t.Helper()
	g, _, err := c.UpdateKafkaGroup(group, 1, KafkaFence{}, KafkaUpdate{RequireNoMkMembers: true, TakeOver: true}, func(g *Group) error {
		g.Kafka.ProtocolType, g.Kafka.State = "consumer", KafkaStable
		for _, id := range ids {
			g.Kafka.Members = append(g.Kafka.Members, KafkaMember{ID: id})
		}
		g.Generation++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g.Fence()
}

// TestKafkaGroupFence: a coordinator writes a group only while the file
// names it at the epoch it last wrote; a takeover fences the one before.
func TestKafkaGroupFence(t *testing.T) {
	c := groupCluster(t, 2)
	f1 := kafkaMembers(t, c, "g", "k1")
	if f1 != (KafkaFence{Coordinator: 1, Epoch: 1}) {
		t.Fatalf("fence after the first write: %v", f1)
	}
	// Broker 2 takes the group over.
	g, stamp, err := c.UpdateKafkaGroup("g", 2, f1, KafkaUpdate{TakeOver: true}, func(*Group) error { return nil })
	if err != nil || g.Fence() != (KafkaFence{Coordinator: 2, Epoch: 2}) || g.Kafka.Members[0].ID != "k1" {
		t.Fatalf("takeover: %v %+v", err, g)
	}
	if now, err := c.GroupStamp("g"); err != nil || !now.Same(stamp) {
		t.Fatalf("the stamp of the file written is not the file's: %v", err)
	}
	// Broker 1's writes fail from now on, and change nothing.
	if _, _, err := c.UpdateKafkaGroup("g", 1, f1, KafkaUpdate{}, func(g *Group) error { g.Generation = 99; return nil }); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("write of the replaced coordinator: %v", err)
	}
	if _, err := c.CommitKafkaOffsets("g", f1, false, 1, "k1", map[TopicPartition]KafkaOffset{{"t", 0}: {Offset: 5, LeaderEpoch: -1}}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("commit through the replaced coordinator: %v", err)
	}
	if g, _ := c.Group("g"); g.Generation == 99 {
		t.Fatal("a fenced write changed the file")
	}
	if offs, _ := c.CommittedOffsets("g", "t"); len(offs) != 0 {
		t.Fatalf("a fenced commit was written: %v", offs)
	}
	if now, _ := c.GroupStamp("g"); !now.Same(stamp) {
		t.Fatal("a fenced write replaced the file")
	}
	// The generation never goes down, whatever a coordinator writes.
	g, _, err = c.UpdateKafkaGroup("g", 2, g.Fence(), KafkaUpdate{}, func(g *Group) error { g.Generation = 0; return nil })
	if err != nil || g.Generation != 1 {
		t.Fatalf("generation after a write of 0: %d %v", g.Generation, err)
	}
}

// TestKafkaOffsets: a Kafka client's commit keeps its leader epoch and
// metadata; mk's commands read the offsets like any other; OffsetDelete
// removes partitions.
func TestKafkaOffsets(t *testing.T) {
	c := groupCluster(t, 3)
	f := kafkaMembers(t, c, "g", "k1")
	errs, err := c.CommitKafkaOffsets("g", f, false, 1, "k1", map[TopicPartition]KafkaOffset{
		{"t", 0}: {Offset: 10, LeaderEpoch: 3, Metadata: "m"},
		{"t", 1}: {Offset: 20, LeaderEpoch: -1},
		{"t", 2}: {Offset: 30, LeaderEpoch: 0},
		{"u", 0}: {Offset: 1, LeaderEpoch: -1},
	})
	if err != nil || len(errs) != 1 || !errors.Is(errs["u"], ErrUnknownTopic) {
		t.Fatalf("commit: %v %v", errs, err)
	}
	offs, err := c.CommittedOffsets("g", "t")
	if err != nil {
		t.Fatal(err)
	}
	if o := offs[0]; o.Offset != 10 || o.LeaderEpoch == nil || *o.LeaderEpoch != 3 || o.Metadata != "m" || o.Member != "k1" || o.Generation != 1 {
		t.Fatalf("t-0: %+v", o)
	}
	if o := offs[1]; o.Offset != 20 || o.LeaderEpoch != nil {
		t.Fatalf("t-1 (no leader epoch): %+v", o)
	}
	if o := offs[2]; o.LeaderEpoch == nil || *o.LeaderEpoch != 0 {
		t.Fatalf("t-2 (leader epoch 0 is an epoch): %+v", o)
	}
	if err := c.DeleteKafkaOffsets("g", f, []TopicPartition{{"t", 0}, {"t", 2}}); err != nil {
		t.Fatal(err)
	}
	if offs, _ := c.CommittedOffsets("g", "t"); len(offs) != 1 || offs[1].Offset != 20 {
		t.Fatalf("after deleting t-0 and t-2: %v", offs)
	}
}

// TestGroupOfOneKind: while Kafka clients are members mk's consumers cannot
// join and mk's commands refuse to reset or delete; while mk's consumers
// are, a coordinator cannot give the group Kafka members; once they are
// gone the other kind may come.
func TestGroupOfOneKind(t *testing.T) {
	c := groupCluster(t, 2)
	f := kafkaMembers(t, c, "kafka", "k1")
	if _, err := c.JoinGroup("kafka", Member{ID: "m", Topics: []string{"t"}}, StrategyRange); !errors.Is(err, ErrGroupKind) {
		t.Fatalf("mk member joining a Kafka group: %v", err)
	}
	for name, err := range map[string]error{
		"set offsets":    c.SetOffsets("kafka", map[TopicPartition]int64{{"t", 0}: 0}),
		"delete":         c.DeleteGroup("kafka"),
		"delete offsets": c.DeleteGroupOffsets("kafka", "t"),
	} {
		if !errors.Is(err, ErrGroupActive) {
			t.Errorf("%s of a group with Kafka members: %v", name, err)
		}
	}
	// The Kafka members leave.
	if _, _, err := c.UpdateKafkaGroup("kafka", 1, f, KafkaUpdate{}, func(g *Group) error {
		g.Kafka.State, g.Kafka.Members = KafkaEmpty, nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := join(t, c, "kafka", "m", 0)

	// The other way round.
	join(t, c, "mk", "a", 0)
	if _, _, err := c.UpdateKafkaGroup("mk", 1, KafkaFence{}, KafkaUpdate{RequireNoMkMembers: true, TakeOver: true}, func(*Group) error { return nil }); !errors.Is(err, ErrGroupKind) {
		t.Fatalf("Kafka members for a group with a live mk member: %v", err)
	}
	if _, err := c.CommitKafkaOffsets("mk", KafkaFence{}, true, -1, "", map[TopicPartition]KafkaOffset{{"t", 0}: {Offset: 1, LeaderEpoch: -1}}); !errors.Is(err, ErrGroupKind) {
		t.Fatalf("a Kafka client's commit to a group with a live mk member: %v", err)
	}
	m.release() // dies without leaving: a dead member is no obstacle
	g, _, err := c.UpdateKafkaGroup("kafka", 1, f, KafkaUpdate{RequireNoMkMembers: true}, func(g *Group) error {
		g.Kafka.Members = []KafkaMember{{ID: "k2"}}
		return nil
	})
	if err != nil || len(g.Members) != 0 {
		t.Fatalf("Kafka members after the mk member died: %v, mk members %v", err, g.Members)
	}
	if g.ProtocolType() != "consumer" {
		t.Fatalf("protocol type %q", g.ProtocolType())
	}
}
