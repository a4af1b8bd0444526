package coord

import (
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCreateTopicWithManualAssignment(t *testing.T) {
	c := newCluster(t)
	sessions := registerBrokers(t, c, 1, 2, 3)
	sessions[3].Close() // registered, dead
	tp, err := c.CreateTopicWith("m", TopicSpec{Assignment: [][]int{{3, 1}, {2, 3}, {1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Partition{
		{Partition: 0, Replicas: []int{3, 1}, Leader: 1, ISR: []int{1}}, // the dead preferred leader is not in the ISR
		{Partition: 1, Replicas: []int{2, 3}, Leader: 2, ISR: []int{2}},
		{Partition: 2, Replicas: []int{1, 2}, Leader: 1, ISR: []int{1, 2}},
	}
	for i, p := range tp.Partitions {
		w := want[i]
		if p.Partition != w.Partition || p.Leader != w.Leader || !slices.Equal(p.Replicas, w.Replicas) || !slices.Equal(p.ISR, w.ISR) {
			t.Fatalf("partition %d: %+v, want %+v", i, p, w)
		}
	}
	for _, tc := range []struct {
		what       string
		assignment [][]int
		msg        string
	}{
		{"empty list", [][]int{{1}, {}}, "partition 1 has an empty replica list"},
		{"unregistered broker", [][]int{{1, 7}}, "no such broker is registered"},
		{"broker twice", [][]int{{2, 2}}, "names broker 2 more than once"},
		{"mixed factors", [][]int{{1, 2}, {1}}, "partition 1 has 1 replica(s), but the other partitions have 2"},
		{"no live replica", [][]int{{3}}, "is alive to lead it"},
	} {
		_, err := c.CreateTopicWith("bad", TopicSpec{Assignment: tc.assignment})
		if !errors.Is(err, ErrInvalidReplicaAssignment) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
	if _, err := c.Topic("bad"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("a refused assignment created the topic: %v", err)
	}
}

func TestCreateTopicWithValidateOnly(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2)
	tp, err := c.CreateTopicWith("v", TopicSpec{Partitions: 4, ReplicationFactor: 2, Config: map[string]string{ConfigRetentionMs: "1000"}, ValidateOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(tp.Partitions) != 4 || tp.ReplicationFactor() != 2 || tp.ID != "" || tp.Config[ConfigRetentionMs] != "1000" {
		t.Fatalf("validated topic %+v", tp)
	}
	if _, err := c.Topic("v"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("validate only wrote the topic: %v", err)
	}
	// Kafka's order: an existing topic before a bad config or count.
	if _, err := c.CreateTopic("e", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateTopicWith("e", TopicSpec{Partitions: 0, ReplicationFactor: 1, Config: map[string]string{"x": "1"}, ValidateOnly: true})
	if !errors.Is(err, ErrTopicExists) {
		t.Fatalf("exists first: %v", err)
	}
	_, err = c.CreateTopicWith("f", TopicSpec{Partitions: 0, ReplicationFactor: 0, Config: map[string]string{"x": "1"}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("configs before counts: %v", err)
	}
	_, err = c.CreateTopicWith("f", TopicSpec{Partitions: 0, ReplicationFactor: 0})
	if !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("replication factor before partitions: %v", err)
	}
	_, err = c.CreateTopicWith("e.x", TopicSpec{Partitions: 1, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateTopicWith("e_x", TopicSpec{Partitions: 1, ReplicationFactor: 1})
	if !errors.Is(err, ErrTopicNameCollision) || !errors.Is(err, ErrTopicExists) {
		t.Fatalf("collision: %v", err)
	}
}

func TestAddPartitions(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2, 3)
	if _, err := c.CreateTopic("g", 2, 2, nil); err != nil {
		t.Fatal(err)
	}
	tp, err := c.AddPartitions("g", 5, nil, true)
	if err != nil || len(tp.Partitions) != 5 {
		t.Fatalf("validate: %v %+v", err, tp)
	}
	if cur, _ := c.Topic("g"); len(cur.Partitions) != 2 || cur.Version != 1 {
		t.Fatalf("validate only changed the topic: %+v", cur)
	}
	for _, tc := range []struct {
		total      int
		assignment [][]int
		want       error
	}{
		{2, nil, ErrInvalidPartitions},
		{1, nil, ErrInvalidPartitions},
		{4, [][]int{{1, 2}}, ErrInvalidReplicaAssignment},
		{3, [][]int{{1}}, ErrInvalidReplicaAssignment},
	} {
		if _, err := c.AddPartitions("g", tc.total, tc.assignment, false); !errors.Is(err, tc.want) {
			t.Errorf("to %d with %v: %v, want %v", tc.total, tc.assignment, err, tc.want)
		}
	}
	tp, err = c.AddPartitions("g", 4, [][]int{{3, 1}, {2, 1}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := replicasOf(tp); !slices.Equal(got[2], []int{3, 1}) || !slices.Equal(got[3], []int{2, 1}) || tp.Version != 2 {
		t.Fatalf("replicas %v version %d", got, tp.Version)
	}
	if _, err := c.AddPartitions("nosuch", 3, nil, false); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestAlterTopicConfig(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	if _, err := c.CreateTopic("a", 1, 1, map[string]string{ConfigRetentionMs: "1000"}); err != nil {
		t.Fatal(err)
	}
	replace := func(m map[string]string) func(map[string]string) (map[string]string, error) {
		return func(map[string]string) (map[string]string, error) { return m, nil }
	}
	tp, err := c.AlterTopicConfig("a", replace(map[string]string{ConfigSegmentBytes: " 2048 "}), true)
	if err != nil || !maps.Equal(tp.Config, map[string]string{ConfigSegmentBytes: "2048"}) {
		t.Fatalf("validate: %v %v", err, tp)
	}
	if cur, _ := c.Topic("a"); !maps.Equal(cur.Config, map[string]string{ConfigRetentionMs: "1000"}) {
		t.Fatalf("validate only changed the configs: %v", cur.Config)
	}
	if _, err := c.AlterTopicConfig("a", replace(map[string]string{ConfigSegmentBytes: "1"}), false); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad value: %v", err)
	}
	tp, err = c.AlterTopicConfig("a", func(cur map[string]string) (map[string]string, error) {
		cur[ConfigSegmentBytes] = "2048"
		return cur, nil
	}, false)
	if err != nil || !maps.Equal(tp.Config, map[string]string{ConfigRetentionMs: "1000", ConfigSegmentBytes: "2048"}) {
		t.Fatalf("read-modify-write: %v %v", err, tp)
	}
	if cur, _ := c.Topic("a"); !maps.Equal(cur.Config, tp.Config) || cur.Version != 2 {
		t.Fatalf("written: %+v", cur)
	}
}

func TestDeleteTopicID(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	old, err := c.CreateTopic("d", 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(c.PartitionDir(1, "d", 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic("d"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic("d", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	// The old id names nothing now: the new topic of the same name stays.
	if err := c.DeleteTopicID("d", old.ID); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("delete by a stale id: %v", err)
	}
	cur, err := c.Topic("d")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopicID("d", cur.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Topic("d"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("after delete by id: %v", err)
	}
}

func TestDescribeConfigKeys(t *testing.T) {
	for _, k := range ConfigKeys() {
		d, ok := DescribeConfigKey(k)
		// Kafka gives these no broker config (CONFIGS_WITH_NO_SERVER_DEFAULTS).
		noBrokerKey := k == ConfigRemoteStorageEnable || k == ConfigLeaderReplicationThrottledReplicas || k == ConfigFollowerReplicationThrottledReplicas
		if !ok || d.Doc == "" || (d.BrokerKey == "") != noBrokerKey || d.Type == "" || d.Default != configSpecs[k].def {
			t.Errorf("%s: %+v", k, d)
		}
	}
	if _, ok := DescribeConfigKey("no.such"); ok {
		t.Error("an unknown key is described")
	}
}
