package coord

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func tps(topic string, parts ...int) []TopicPartition {
	out := []TopicPartition{}
	for _, p := range parts {
		out = append(out, TopicPartition{topic, p})
	}
	return out
}

func members(subs map[string][]string) []Member {
	var ms []Member
	for id, topics := range subs {
		ms = append(ms, Member{ID: id, Topics: topics})
	}
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return ms
}

// checkAssignmentComplete: every partition of every existing subscribed
// topic goes to exactly one member, one that subscribes to its topic, and
// every member has an entry.
func checkAssignmentComplete(t *testing.T, name string, ms []Member, counts map[string]int, got map[string][]TopicPartition) {
	t.Helper()
	owner := map[TopicPartition]string{}
	for _, m := range ms {
		as, ok := got[m.ID]
		if !ok {
			t.Errorf("%s: member %s has no entry", name, m.ID)
		}
		for _, tp := range as {
			if prev, dup := owner[tp]; dup {
				t.Errorf("%s: %s given to %s and %s", name, tp, prev, m.ID)
			}
			owner[tp] = m.ID
			if !slices.Contains(m.Topics, tp.Topic) {
				t.Errorf("%s: %s given to %s, which does not subscribe to %s", name, tp, m.ID, tp.Topic)
			}
		}
	}
	for topic, n := range counts {
		if len(subscribers(ms, topic)) == 0 {
			continue
		}
		for p := 0; p < n; p++ {
			if _, ok := owner[TopicPartition{topic, p}]; !ok {
				t.Errorf("%s: %s-%d not assigned", name, topic, p)
			}
		}
	}
	if len(got) != len(ms) {
		t.Errorf("%s: %d entries for %d members", name, len(got), len(ms))
	}
}

// The cases of Kafka's RangeAssignorTest and RoundRobinAssignorTest, with
// their expected assignments.
func TestAssignKafkaCompatible(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		subs     map[string][]string
		counts   map[string]int
		want     map[string][]TopicPartition
	}{
		{"range/one consumer no topic", StrategyRange,
			map[string][]string{"c": {"t"}}, map[string]int{"t": -1},
			map[string][]TopicPartition{"c": {}}},
		{"range/one consumer one topic", StrategyRange,
			map[string][]string{"c": {"t"}}, map[string]int{"t": 3},
			map[string][]TopicPartition{"c": tps("t", 0, 1, 2)}},
		{"range/two consumers three partitions", StrategyRange,
			map[string][]string{"a": {"t"}, "b": {"t"}}, map[string]int{"t": 3},
			map[string][]TopicPartition{"a": tps("t", 0, 1), "b": tps("t", 2)}},
		{"range/two consumers one partition", StrategyRange,
			map[string][]string{"c1": {"t"}, "c2": {"t"}}, map[string]int{"t": 1},
			map[string][]TopicPartition{"c1": tps("t", 0), "c2": {}}},
		{"range/three consumers seven partitions", StrategyRange,
			map[string][]string{"a": {"t"}, "b": {"t"}, "c": {"t"}}, map[string]int{"t": 7},
			map[string][]TopicPartition{"a": tps("t", 0, 1, 2), "b": tps("t", 3, 4), "c": tps("t", 5, 6)}},
		{"range/two consumers two topics six partitions", StrategyRange,
			map[string][]string{"c1": {"t1", "t2"}, "c2": {"t1", "t2"}}, map[string]int{"t1": 3, "t2": 3},
			map[string][]TopicPartition{"c1": append(tps("t1", 0, 1), tps("t2", 0, 1)...), "c2": append(tps("t1", 2), tps("t2", 2)...)}},
		{"range/multiple consumers mixed topics", StrategyRange,
			map[string][]string{"consumer1": {"t1"}, "consumer2": {"t1", "t2"}, "consumer3": {"t1"}}, map[string]int{"t1": 3, "t2": 2},
			map[string][]TopicPartition{"consumer1": tps("t1", 0), "consumer2": append(tps("t1", 1), tps("t2", 0, 1)...), "consumer3": tps("t1", 2)}},
		{"range/only assigns subscribed topics", StrategyRange,
			map[string][]string{"c": {"t1"}}, map[string]int{"t1": 3, "other": 3},
			map[string][]TopicPartition{"c": tps("t1", 0, 1, 2)}},
		{"range/member ids sort, not join order", StrategyRange,
			map[string][]string{"mk-f": {"t"}, "mk-0": {"t"}}, map[string]int{"t": 3},
			map[string][]TopicPartition{"mk-0": tps("t", 0, 1), "mk-f": tps("t", 2)}},

		{"roundrobin/one consumer one topic", StrategyRoundRobin,
			map[string][]string{"c": {"t"}}, map[string]int{"t": 3},
			map[string][]TopicPartition{"c": tps("t", 0, 1, 2)}},
		{"roundrobin/two consumers one topic one partition", StrategyRoundRobin,
			map[string][]string{"c1": {"t"}, "c2": {"t"}}, map[string]int{"t": 1},
			map[string][]TopicPartition{"c1": tps("t", 0), "c2": {}}},
		{"roundrobin/two consumers one topic two partitions", StrategyRoundRobin,
			map[string][]string{"c1": {"t"}, "c2": {"t"}}, map[string]int{"t": 2},
			map[string][]TopicPartition{"c1": tps("t", 0), "c2": tps("t", 1)}},
		{"roundrobin/two consumers two topics six partitions", StrategyRoundRobin,
			map[string][]string{"c1": {"t1", "t2"}, "c2": {"t1", "t2"}}, map[string]int{"t1": 3, "t2": 3},
			map[string][]TopicPartition{"c1": append(tps("t1", 0, 2), tps("t2", 1)...), "c2": append(tps("t1", 1), tps("t2", 0, 2)...)}},
		{"roundrobin/multiple consumers mixed topics", StrategyRoundRobin,
			map[string][]string{"consumer1": {"t1"}, "consumer2": {"t1", "t2"}, "consumer3": {"t1"}}, map[string]int{"t1": 3, "t2": 2},
			map[string][]TopicPartition{"consumer1": tps("t1", 0), "consumer2": append(tps("t1", 1), tps("t2", 0, 1)...), "consumer3": tps("t1", 2)}},
		{"roundrobin/three consumers seven partitions", StrategyRoundRobin,
			map[string][]string{"a": {"t"}, "b": {"t"}, "c": {"t"}}, map[string]int{"t": 7},
			map[string][]TopicPartition{"a": tps("t", 0, 3, 6), "b": tps("t", 1, 4), "c": tps("t", 2, 5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := members(tt.subs)
			got := Assign(tt.strategy, ms, tt.counts, nil)
			for id, want := range tt.want {
				if !slices.Equal(got[id], want) {
					t.Errorf("%s: got %v, want %v", id, got[id], want)
				}
			}
			checkAssignmentComplete(t, tt.name, ms, tt.counts, got)
		})
	}
}

// The result is a function of the inputs: every member computes the same.
func TestAssignDeterministic(t *testing.T) {
	ms := members(map[string][]string{"a": {"x", "y"}, "b": {"y"}, "c": {"x", "y", "z"}})
	counts := map[string]int{"x": 5, "y": 7, "z": 2}
	for _, s := range []string{StrategyRange, StrategyRoundRobin, StrategySticky} {
		first := Assign(s, ms, counts, nil)
		checkAssignmentComplete(t, s, ms, counts, first)
		for i := 0; i < 20; i++ {
			// With the last assignment as previous: sticky must not move.
			if again := Assign(s, ms, counts, first); !equalAssignment(first, again) {
				t.Fatalf("%s: %v then %v", s, first, again)
			}
		}
	}
}

func equalAssignment(a, b map[string][]TopicPartition) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		if !slices.Equal(x, b[id]) {
			return false
		}
	}
	return true
}

func spread(as map[string][]TopicPartition) (lo, hi int) {
	lo = -1
	for _, x := range as {
		if lo < 0 || len(x) < lo {
			lo = len(x)
		}
		hi = max(hi, len(x))
	}
	return lo, hi
}

func TestAssignStickyKeepsAndBalances(t *testing.T) {
	counts := map[string]int{"t": 12}
	all := []string{"t"}
	prev := map[string][]TopicPartition{"a": tps("t", 0, 1, 2, 3, 4, 5), "b": tps("t", 6, 7, 8, 9, 10, 11)}

	// A member joins: each old member gives up two, keeps four of its own.
	ms := members(map[string][]string{"a": all, "b": all, "c": all})
	got := Assign(StrategySticky, ms, counts, prev)
	checkAssignmentComplete(t, "join", ms, counts, got)
	for _, id := range []string{"a", "b"} {
		for _, tp := range got[id] {
			if !slices.Contains(prev[id], tp) {
				t.Errorf("join: %s gained %s; only the new member should gain", id, tp)
			}
		}
	}
	if lo, hi := spread(got); lo != 4 || hi != 4 {
		t.Errorf("join: %v, want 4 each", got)
	}

	// A member leaves: only its partitions move.
	ms = members(map[string][]string{"a": all, "c": all})
	next := Assign(StrategySticky, ms, counts, got)
	checkAssignmentComplete(t, "leave", ms, counts, next)
	for _, id := range []string{"a", "c"} {
		for _, tp := range got[id] {
			if !slices.Contains(next[id], tp) {
				t.Errorf("leave: %s lost %s, which was not the leaver's", id, tp)
			}
		}
	}
	if lo, hi := spread(next); hi-lo > 1 {
		t.Errorf("leave: unbalanced %v", next)
	}

	// Range, by contrast, moves partitions between members that stay.
	r1 := Assign(StrategyRange, members(map[string][]string{"a": all, "b": all, "c": all}), counts, nil)
	r2 := Assign(StrategyRange, members(map[string][]string{"a": all, "c": all}), counts, r1)
	if slices.Equal(r1["c"], r2["c"]) {
		t.Errorf("range kept c's partitions %v; the test's contrast is wrong", r1["c"])
	}
}

// Random joins and leaves with equal subscriptions: sticky stays balanced
// (max-min <= 1), a leave moves only the leaver's partitions, and a join
// moves only what the newcomer takes.
func TestAssignStickyRandomChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		counts := map[string]int{"a": 1 + rng.IntN(13), "b": rng.IntN(9)}
		topics := []string{"a", "b"}
		var ms []Member
		prev := map[string][]TopicPartition{}
		for step := 0; step < 12; step++ {
			leaving := len(ms) > 1 && rng.IntN(3) == 0
			before := ms
			if leaving {
				i := rng.IntN(len(ms))
				ms = slices.Delete(slices.Clone(ms), i, i+1)
			} else {
				ms = append(slices.Clone(ms), Member{ID: fmt.Sprintf("m%03d", rng.IntN(1000)), Topics: topics})
				slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
				ms = slices.CompactFunc(ms, func(a, b Member) bool { return a.ID == b.ID })
			}
			got := Assign(StrategySticky, ms, counts, prev)
			name := fmt.Sprintf("round %d step %d", round, step)
			checkAssignmentComplete(t, name, ms, counts, got)
			if lo, hi := spread(got); hi-lo > 1 {
				t.Fatalf("%s: unbalanced %v", name, got)
			}
			moved := 0
			for _, m := range ms {
				for _, tp := range prev[m.ID] {
					if !slices.Contains(got[m.ID], tp) {
						moved++
					}
				}
			}
			if leaving && moved > 0 {
				t.Fatalf("%s: a leave moved %d partitions of members that stayed: %v -> %v", name, moved, prev, got)
			}
			if !leaving && len(before) > 0 {
				taken := 0
				for _, m := range ms {
					if _, old := prev[m.ID]; !old {
						taken += len(got[m.ID])
					}
				}
				if moved > taken {
					t.Fatalf("%s: a join moved %d partitions, the newcomer took %d: %v -> %v", name, moved, taken, prev, got)
				}
			}
			prev = got
		}
	}
}

// Sticky with mixed subscriptions still gives every partition to a
// subscriber and keeps what it can.
func TestAssignStickyMixedSubscriptions(t *testing.T) {
	counts := map[string]int{"t1": 3, "t2": 4}
	ms := members(map[string][]string{"a": {"t1"}, "b": {"t1", "t2"}, "c": {"t2"}})
	got := Assign(StrategySticky, ms, counts, nil)
	checkAssignmentComplete(t, "mixed", ms, counts, got)
	if lo, hi := spread(got); hi-lo > 1 {
		t.Errorf("mixed: unbalanced %v", got)
	}
	// A topic losing its only subscriber's partitions: they go nowhere.
	ms2 := members(map[string][]string{"b": {"t1"}, "c": {"t1"}})
	again := Assign(StrategySticky, ms2, counts, got)
	checkAssignmentComplete(t, "unsubscribed", ms2, counts, again)
	for _, id := range []string{"b", "c"} {
		for _, tp := range again[id] {
			if tp.Topic != "t1" {
				t.Errorf("%s got %s of a topic nobody subscribes to", id, tp)
			}
		}
	}
}

// groupCluster is a cluster with one broker registered in this process
// and topic t of parts partitions.
func groupCluster(t *testing.T, parts int) *Cluster {
	t.Helper()
	c := newCluster(t)
	registerBrokers(t, c, 1)
	if _, err := c.CreateTopic("t", parts, 1, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func join(t *testing.T, c *Cluster, group, id string, timeout time.Duration) *GroupMember {
	t.Helper()
	m, err := c.JoinGroup(group, Member{ID: id, Topics: []string{"t"}, SessionTimeoutMs: timeout.Milliseconds()}, StrategyRange)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.release() })
	return m
}

func TestJoinLeaveGenerations(t *testing.T) {
	c := groupCluster(t, 3)
	if _, err := c.Group("g"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("Group before any join: %v, want ErrUnknownGroup", err)
	}
	a := join(t, c, "g", "a", 0)
	g, err := c.Group("g")
	if err != nil {
		t.Fatal(err)
	}
	if g.Generation != 1 || !slices.Equal(g.Assignment["a"], tps("t", 0, 1, 2)) {
		t.Fatalf("after a joined: generation %d, assignment %v", g.Generation, g.Assignment)
	}
	join(t, c, "g", "b", 0)
	g, _ = c.Group("g")
	if g.Generation != 2 || !slices.Equal(g.Assignment["a"], tps("t", 0, 1)) || !slices.Equal(g.Assignment["b"], tps("t", 2)) {
		t.Fatalf("after b joined: generation %d, assignment %v", g.Generation, g.Assignment)
	}
	// Nothing changed: a rebalance keeps the generation.
	if g, _ = c.Rebalance("g"); g.Generation != 2 {
		t.Fatalf("idle rebalance moved the generation to %d", g.Generation)
	}
	if _, err := c.JoinGroup("g", Member{ID: "c", Topics: []string{"t"}}, StrategyRoundRobin); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("join with another strategy: %v, want ErrInvalidConfig", err)
	}
	if err := a.Leave(); err != nil {
		t.Fatal(err)
	}
	g, _ = c.Group("g")
	if g.Generation < 3 || len(g.Members) != 1 || !slices.Equal(g.Assignment["b"], tps("t", 0, 1, 2)) {
		t.Fatalf("after a left: generation %d, members %v, assignment %v", g.Generation, g.Members, g.Assignment)
	}
	// More partitions: a new generation that gives them out.
	gen := g.Generation
	if _, err := c.AlterTopic("t", 5, nil, nil); err != nil {
		t.Fatal(err)
	}
	if g, _ = c.Rebalance("g"); g.Generation != gen+1 || !slices.Equal(g.Assignment["b"], tps("t", 0, 1, 2, 3, 4)) {
		t.Fatalf("after alter: generation %d (was %d), assignment %v", g.Generation, gen, g.Assignment)
	}
}

func TestOwnershipIsExclusive(t *testing.T) {
	c := groupCluster(t, 1)
	join(t, c, "g", "a", 0)
	join(t, c, "g", "b", 0)
	tp := TopicPartition{"t", 0}
	oa, err := c.AcquireOwnership("g", tp, "a", 1)
	if err != nil || oa == nil {
		t.Fatalf("a: %v %v", oa, err)
	}
	if ob, err := c.AcquireOwnership("g", tp, "b", 2); ob != nil || err != nil {
		t.Fatalf("b took a partition a holds: %v %v", ob, err)
	}
	if got := c.Owner("g", tp); got != "a" {
		t.Fatalf("Owner = %q, want a", got)
	}
	freed := make(chan struct{})
	go func() { c.WaitOwnershipFree("g", tp); close(freed) }()
	oa.Release()
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitOwnershipFree did not return after the release")
	}
	waitFor(t, "b to take the partition", func() bool {
		ob, err := c.AcquireOwnership("g", tp, "b", 2)
		if err != nil {
			t.Fatal(err)
		}
		if ob != nil {
			t.Cleanup(ob.Release)
		}
		return ob != nil
	})
	if got := c.Owner("g", tp); got != "b" {
		t.Fatalf("Owner = %q, want b", got)
	}
}

func TestCommitOffsetsFenced(t *testing.T) {
	c := groupCluster(t, 2)
	join(t, c, "g", "a", 0)
	join(t, c, "g", "b", 0)
	t0, t1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	oa, _ := c.AcquireOwnership("g", t0, "a", 2)
	ob, _ := c.AcquireOwnership("g", t1, "b", 2)
	if oa == nil || ob == nil {
		t.Fatal("could not take the partitions")
	}
	defer ob.Release()
	if err := c.CommitOffsets("g", "a", map[TopicPartition]int64{t0: 5}); err != nil {
		t.Fatalf("owner's commit: %v", err)
	}
	tests := []struct {
		name, member string
		offsets      map[TopicPartition]int64
	}{
		{"not the owner", "b", map[TopicPartition]int64{t0: 9}},
		{"one partition not owned", "b", map[TopicPartition]int64{t1: 3, t0: 9}},
		{"not a member", "zombie", map[TopicPartition]int64{t0: 9}},
	}
	for _, tt := range tests {
		if err := c.CommitOffsets("g", tt.member, tt.offsets); !errors.Is(err, ErrFencedMember) {
			t.Errorf("%s: %v, want ErrFencedMember", tt.name, err)
		}
	}
	// The partition moves on: its old owner's late commit is refused.
	oa.Release()
	ob0, _ := c.AcquireOwnership("g", t0, "b", 3)
	if ob0 == nil {
		t.Fatal("b could not take t-0")
	}
	defer ob0.Release()
	if err := c.CommitOffsets("g", "a", map[TopicPartition]int64{t0: 7}); !errors.Is(err, ErrFencedMember) {
		t.Fatalf("old owner's commit: %v, want ErrFencedMember", err)
	}
	offs, err := c.CommittedOffsets("g", "t")
	if err != nil {
		t.Fatal(err)
	}
	if offs[0].Offset != 5 || offs[0].Member != "a" {
		t.Fatalf("committed %+v, want 5 by a", offs[0])
	}
	if _, ok := offs[1]; ok {
		t.Fatalf("a refused commit wrote t-1: %+v", offs[1])
	}
}

// Member child processes: the test binary re-executed with groupChildEnv
// set joins a group and obeys one command a line on stdin:
//
//	own P          take partition P of t: "own P ok" or "own P busy"
//	commit P OFF   commit: "commit ok", "commit fenced" or "commit failed: ERR"
//	expelled       "expelled true" or "expelled false"
//
// It exits when stdin closes.
const groupChildEnv = "MK_COORD_GROUP_CHILD"

func init() {
	if os.Getenv(groupChildEnv) != "" {
		os.Exit(runGroupChild())
	}
}

func runGroupChild() int {
	c, err := Open(os.Getenv("MK_COORD_TEST_DIR"))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	timeout, _ := strconv.Atoi(os.Getenv("MK_COORD_TEST_SESSION_MS"))
	group, id := os.Getenv("MK_COORD_TEST_GROUP"), os.Getenv(groupChildEnv)
	m, err := c.JoinGroup(group, Member{ID: id, Topics: []string{"t"}, SessionTimeoutMs: int64(timeout)}, StrategyRange)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("joined", m.ID())
	var held []*Ownership
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "own":
			p, _ := strconv.Atoi(f[1])
			g, _ := c.Group(group)
			o, err := c.AcquireOwnership(group, TopicPartition{"t", p}, id, g.Generation)
			switch {
			case err != nil:
				fmt.Println("error", err)
			case o == nil:
				fmt.Println("own", p, "busy")
			default:
				held = append(held, o)
				fmt.Println("own", p, "ok")
			}
		case "commit":
			p, _ := strconv.Atoi(f[1])
			off, _ := strconv.ParseInt(f[2], 10, 64)
			err := c.CommitOffsets(group, id, map[TopicPartition]int64{{"t", p}: off})
			switch {
			case err == nil:
				fmt.Println("commit ok")
			case errors.Is(err, ErrFencedMember):
				fmt.Println("commit fenced")
			default:
				fmt.Println("commit failed:", err)
			}
		case "expelled":
			fmt.Println("expelled", m.Expelled())
		}
	}
	return 0
}

type memberChild struct {
	*child
	stdin io.WriteCloser
}

// startMemberChild starts a child process that joins group g of c as
// member id with a session timeout, and waits until it has joined.
func startMemberChild(t *testing.T, c *Cluster, id string, session time.Duration) *memberChild {
	t.Helper()
	ch, stdin := spawnChild(t, "joined", groupChildEnv+"="+id, "MK_COORD_TEST_DIR="+c.Dir(),
		"MK_COORD_TEST_GROUP=g", "MK_COORD_TEST_SESSION_MS="+strconv.FormatInt(session.Milliseconds(), 10))
	return &memberChild{ch, stdin}
}

// do sends a command and returns the child's answer, which starts with want.
func (ch *memberChild) do(t *testing.T, cmd, want string) string {
	t.Helper()
	fmt.Fprintln(ch.stdin, cmd)
	return want + ch.expect(t, want)
}

func isMember(t *testing.T, c *Cluster, id string) bool {
	g, err := c.Rebalance("g")
	if err != nil {
		t.Fatal(err)
	}
	return g.Member(id) != nil
}

// A SIGKILLed member is dropped by the next Rebalance, and the kernel has
// freed its ownership locks: another member takes its partitions at once.
func TestKilledMemberDropped(t *testing.T) {
	c := groupCluster(t, 2)
	ch := startMemberChild(t, c, "b-child", 0) // the default 45s session: only the lock tells
	if got := ch.do(t, "own 0", "own 0 "); got != "own 0 ok" {
		t.Fatalf("child: %s", got)
	}
	a := join(t, c, "g", "a-test", 0)
	gone := make(chan struct{})
	go func() { c.WaitMemberGone("g", "b-child"); close(gone) }()
	g0, _ := c.Group("g")
	if o, _ := c.AcquireOwnership("g", TopicPartition{"t", 0}, a.ID(), g0.Generation); o != nil {
		t.Fatal("took t-0 while the child held it")
	}
	if !isMember(t, c, "b-child") {
		t.Fatal("a live child was dropped")
	}
	ch.kill(t)
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitMemberGone did not return after SIGKILL")
	}
	g, err := c.Rebalance("g")
	if err != nil {
		t.Fatal(err)
	}
	if g.Member("b-child") != nil || g.Generation <= g0.Generation || !slices.Equal(g.Assignment["a-test"], tps("t", 0, 1)) {
		t.Fatalf("after the kill: generation %d (was %d), members %v, assignment %v", g.Generation, g0.Generation, g.Members, g.Assignment)
	}
	o, err := c.AcquireOwnership("g", TopicPartition{"t", 0}, a.ID(), g.Generation)
	if err != nil || o == nil {
		t.Fatalf("take t-0 after the kill: %v %v", o, err)
	}
	o.Release()
}

// A SIGSTOPped member is expelled once its heartbeat is older than its
// session timeout; its ownership locks are broken, including one it lost
// in a rebalance but had not released yet, so another member takes them
// while the stopped process still holds the old locks; woken up, it knows
// it was expelled and its commits are fenced.
func TestStoppedMemberExpelled(t *testing.T) {
	c := groupCluster(t, 2)
	ch := startMemberChild(t, c, "b-child", 500*time.Millisecond)
	for p := range 2 {
		if got := ch.do(t, fmt.Sprintf("own %d", p), fmt.Sprintf("own %d ", p)); got != fmt.Sprintf("own %d ok", p) {
			t.Fatalf("child: %s", got)
		}
	}
	if got := ch.do(t, "commit 0 3", "commit "); got != "commit ok" {
		t.Fatalf("child: %s", got)
	}
	ch.signal(t, syscall.SIGSTOP)
	// a-test joins: range gives it t-0, which the stopped child still holds.
	a := join(t, c, "g", "a-test", 0)
	if g, _ := c.Group("g"); !slices.Equal(g.Assignment["a-test"], tps("t", 0)) || !slices.Equal(g.Assignment["b-child"], tps("t", 1)) {
		t.Fatalf("assignment %v", g.Assignment)
	}
	if o, _ := c.AcquireOwnership("g", TopicPartition{"t", 0}, a.ID(), 2); o != nil {
		t.Fatal("took t-0 from a member within its session timeout")
	}
	waitFor(t, "the stopped child to be expelled", func() bool { return !isMember(t, c, "b-child") })
	g, _ := c.Group("g")
	for p := range 2 {
		o, err := c.AcquireOwnership("g", TopicPartition{"t", p}, a.ID(), g.Generation)
		if err != nil || o == nil {
			t.Fatalf("take t-%d from the expelled child: %v %v", p, o, err)
		}
		defer o.Release()
	}
	ch.signal(t, syscall.SIGCONT)
	if got := ch.do(t, "expelled", "expelled "); got != "expelled true" {
		t.Fatalf("child: %s", got)
	}
	if got := ch.do(t, "commit 1 9", "commit "); got != "commit fenced" {
		t.Fatalf("expelled child's commit: %s", got)
	}
	if a.Expelled() {
		t.Fatal("a live member reports itself expelled")
	}
	offs, _ := c.CommittedOffsets("g", "t")
	if offs[0].Offset != 3 {
		t.Fatalf("committed %+v", offs)
	}
	if _, ok := offs[1]; ok {
		t.Fatalf("the expelled member's commit was written: %+v", offs[1])
	}
}

func TestGroupAdmin(t *testing.T) {
	c := groupCluster(t, 2)
	a := join(t, c, "g", "a", 0)
	set := map[TopicPartition]int64{{"t", 0}: 4}
	for name, err := range map[string]error{
		"set offsets":    c.SetOffsets("g", set),
		"delete offsets": c.DeleteGroupOffsets("g", "t"),
		"delete":         c.DeleteGroup("g"),
	} {
		if !errors.Is(err, ErrGroupActive) || !strings.Contains(err.Error(), "(a)") {
			t.Errorf("%s with a live member: %v, want ErrGroupActive naming a", name, err)
		}
	}
	if err := a.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetOffsets("g", set); err != nil {
		t.Fatal(err)
	}
	if offs, _ := c.CommittedOffsets("g", "t"); offs[0].Offset != 4 {
		t.Fatalf("after SetOffsets: %+v", offs)
	}
	if ts, _ := c.CommittedTopics("g"); !slices.Equal(ts, []string{"t"}) {
		t.Fatalf("CommittedTopics = %v", ts)
	}
	if err := c.DeleteGroupOffsets("g", "nosuch"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("delete offsets of a topic without any: %v", err)
	}
	if err := c.DeleteGroupOffsets("g", "t"); err != nil {
		t.Fatal(err)
	}
	if offs, _ := c.CommittedOffsets("g", "t"); len(offs) != 0 {
		t.Fatalf("after DeleteGroupOffsets: %+v", offs)
	}
	if err := c.DeleteGroup("g"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Group("g"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("after delete: %v", err)
	}
	if err := c.DeleteGroup("g"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("delete twice: %v", err)
	}
	// Offsets of a topic deleted and created again are not the new topic's.
	join(t, c, "h", "x", 0)
	o, _ := c.AcquireOwnership("h", TopicPartition{"t", 0}, "x", 1)
	if err := c.CommitOffsets("h", "x", map[TopicPartition]int64{{"t", 0}: 2}); err != nil {
		t.Fatal(err)
	}
	o.Release()
	if err := c.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTopic("t", 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	if offs, _ := c.CommittedOffsets("h", "t"); len(offs) != 0 {
		t.Fatalf("offsets of the old topic t: %+v", offs)
	}
}

// A member that takes a partition the moment its owner dies is not undone
// by the expiry of the dead member that another member runs at the same
// moment (the lock it just took must stay the one at the path).
func TestExpiryRacesNewOwner(t *testing.T) {
	for i := range 15 {
		c := groupCluster(t, 1)
		ch := startMemberChild(t, c, "x-child", 0)
		if got := ch.do(t, "own 0", "own 0 "); got != "own 0 ok" {
			t.Fatalf("child: %s", got)
		}
		join(t, c, "g", "y-test", 0)
		tp := TopicPartition{"t", 0}
		taken := make(chan *Ownership, 1)
		go func() {
			c.WaitOwnershipFree("g", tp)
			for {
				if o, err := c.AcquireOwnership("g", tp, "y-test", 2); o != nil || err != nil {
					taken <- o
					return
				}
			}
		}()
		expired := make(chan struct{})
		go func() {
			c.WaitMemberGone("g", "x-child")
			c.Rebalance("g")
			close(expired)
		}()
		ch.kill(t)
		o := <-taken
		<-expired
		if o == nil {
			t.Fatalf("round %d: y could not take t-0", i)
		}
		held, _ := o.lock.stat()
		now, err := os.Stat(c.ownerLockPath("g", tp))
		if err != nil || !os.SameFile(held, now) {
			t.Fatalf("round %d: the lock y took was broken by the expiry of the dead member (%v)", i, err)
		}
		if got := c.Owner("g", tp); got != "y-test" {
			t.Fatalf("round %d: Owner = %q", i, got)
		}
		o.Release()
	}
}
