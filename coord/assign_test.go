package coord

import (
	"fmt"
	"slices"
	"testing"
)

// Kafka's own worked example (AdminUtils): 5 brokers, 10 partitions,
// replication factor 3, start index 0, shift 0.
func TestAssignReplicasMatchesKafkasExample(t *testing.T) {
	got := assignReplicasFixed([]int{0, 1, 2, 3, 4}, 0, 10, 3, 0, 0)
	want := [][]int{
		{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1},
		{0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestAssignReplicasSpreadsEvenly(t *testing.T) {
	for _, brokers := range [][]int{{1}, {1, 2}, {1, 2, 3}, {0, 5, 9, 12}, {1, 2, 3, 4, 5}} {
		for _, partitions := range []int{1, 3, 4, 10, 12, 50} {
			for rf := 1; rf <= len(brokers); rf++ {
				for _, topic := range []string{"a", "orders", "logs.app"} {
					name := fmt.Sprintf("%s/%v/p%d/rf%d", topic, brokers, partitions, rf)
					checkAssignment(t, name, assignReplicas(topic, brokers, 0, partitions, rf), brokers, partitions, rf)
				}
			}
		}
	}
}

func checkAssignment(t *testing.T, name string, got [][]int, brokers []int, partitions, rf int) {
	t.Helper()
	if len(got) != partitions {
		t.Fatalf("%s: %d partitions, want %d", name, len(got), partitions)
	}
	leaders := map[int]int{}
	replicas := map[int]int{}
	for p, rs := range got {
		if len(rs) != rf {
			t.Fatalf("%s: partition %d has %d replicas, want %d", name, p, len(rs), rf)
		}
		seen := map[int]bool{}
		for _, r := range rs {
			if !slices.Contains(brokers, r) || seen[r] {
				t.Fatalf("%s: partition %d replicas %v: not distinct live brokers", name, p, rs)
			}
			seen[r] = true
			replicas[r]++
		}
		leaders[rs[0]]++
	}
	// Leaders go round-robin: counts differ by at most one. Replicas too,
	// the followers being shifted round-robin as well.
	spread := func(m map[int]int) int {
		lo, hi := partitions*rf, 0
		for _, b := range brokers {
			lo, hi = min(lo, m[b]), max(hi, m[b])
		}
		return hi - lo
	}
	if s := spread(leaders); s > 1 {
		t.Errorf("%s: leaders %v are uneven", name, leaders)
	}
	if s := spread(replicas); s > rf {
		t.Errorf("%s: replicas %v are uneven", name, replicas)
	}
}

func TestAssignReplicasIsDeterministicAndContinues(t *testing.T) {
	brokers := []int{1, 2, 3, 4}
	all := assignReplicas("events", brokers, 0, 13, 3)
	if again := assignReplicas("events", brokers, 0, 13, 3); !slices.EqualFunc(all, again, slices.Equal) {
		t.Fatal("the same topic got two assignments")
	}
	for split := 1; split < 13; split++ {
		head := assignReplicas("events", brokers, 0, split, 3)
		tail := assignReplicas("events", brokers, split, 13-split, 3)
		if got := append(head, tail...); !slices.EqualFunc(got, all, slices.Equal) {
			t.Errorf("adding partitions at %d: %v, want %v", split, got, all)
		}
	}
	// Different topics start on different brokers (hash seeds), so many
	// one-partition topics do not all lead on the first broker.
	leaders := map[int]bool{}
	for i := range 20 {
		leaders[assignReplicas(fmt.Sprintf("topic-%d", i), brokers, 0, 1, 1)[0][0]] = true
	}
	if len(leaders) < 3 {
		t.Errorf("20 one-partition topics lead on only %v", leaders)
	}
}
