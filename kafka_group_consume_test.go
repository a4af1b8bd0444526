package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka client groups consuming records: kgo members reading what a kgo
// producer wrote, committing, resuming, through a coordinator failover.

// requireDataPath skips a test that needs records over the wire until the
// brokers serve Produce, ListOffsets and Fetch (being written on other
// branches: server/00_produce.go, 01_fetch.go, 02_list_offsets.go).
func requireDataPath(t testing.TB, k *kafkaCluster) {
	t.Helper()
	if !servesDataPath(t, k) {
		t.Skip("the brokers do not serve Produce, ListOffsets and Fetch yet: this test needs records over the wire")
	}
}

// produceN writes n records with values prefix-0 ... prefix-(n-1), keyed by
// their number, acks=all, and fails the test on any error.
func produceN(t testing.TB, cl *kgo.Client, prefix string, n int) []string {
	t.Helper()
	var rs []*kgo.Record
	var values []string
	for i := range n {
		v := prefix + "-" + strconv.Itoa(i)
		values = append(values, v)
		rs = append(rs, &kgo.Record{Topic: "t", Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return values
}

// groupConsumed collects what group members consumed, checking each record
// against the ownership of its partition at that moment.
type groupConsumed struct {
	mu     sync.Mutex
	seen   map[string]int // value -> times consumed
	byPart map[int32][]int64
	errs   []string
}

func newConsumed() *groupConsumed {
	return &groupConsumed{seen: map[string]int{}, byPart: map[int32][]int64{}}
}

func (c *groupConsumed) record(o *ownership, member string) func(*kgo.Record) {
	return func(r *kgo.Record) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.seen[string(r.Value)]++
		c.byPart[r.Partition] = append(c.byPart[r.Partition], r.Offset)
		if !o.owns(member, r.Partition) {
			c.errs = append(c.errs, fmt.Sprintf("%s consumed %d@%d without owning the partition", member, r.Partition, r.Offset))
		}
	}
}

// waitAll waits until every value has been consumed at least once.
func (c *groupConsumed) waitAll(t testing.TB, values []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.mu.Lock()
		missing := 0
		first := ""
		for _, v := range values {
			if c.seen[v] == 0 {
				if missing == 0 {
					first = v
				}
				missing++
			}
		}
		errs := c.errs
		c.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("records consumed by a member that did not own their partition:\n%s", strings.Join(errs, "\n"))
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records never consumed (first: %s)", missing, len(values), first)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// committedOffsets reads the group's committed offsets of t from its
// offsets file, as mk's commands do.
func committedOffsets(k *kafkaCluster, group string) map[int]int64 {
	data, err := os.ReadFile(filepath.Join(k.dir, "meta", "groups", group, "offsets", "t.json"))
	if err != nil {
		return nil
	}
	var f struct {
		Partitions []struct {
			Partition int   `json:"partition"`
			Offset    int64 `json:"offset"`
		} `json:"partitions"`
	}
	json.Unmarshal(data, &f)
	out := map[int]int64{}
	for _, p := range f.Partitions {
		out[p.Partition] = p.Offset
	}
	return out
}

// TestKafkaGroupConsumeResume: three kgo members consume what a producer
// wrote, each record once per partition owner; one leaves and the others
// take over its partitions; all stop, committing on their way out, and mk
// describe group shows no lag; more records make lag, and a restarted
// member resumes from the committed offsets; mk group reset-offsets
// --execute (no member is live) moves where it resumes.
func TestKafkaGroupConsumeResume(t *testing.T) {
	k := startKafkaCluster(t, 3, "--group-initial-rebalance-delay", "200ms")
	requireDataPath(t, k)
	k.mk("topic", "create", "t", "--partitions", "6", "--replication-factor", "3")
	producer := k.client(kgo.RequiredAcks(kgo.AllISRAcks()))
	values := produceN(t, producer, "a", 600)

	o, c := newOwnership(), newConsumed()
	var ms []*groupMember
	for _, name := range []string{"m1", "m2", "m3"} {
		ms = append(ms, startGroupMember(t, k.addrs(), name, "g", o, c.record(o, name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())))
	}
	c.waitAll(t, values)
	o.waitBalanced(t, 6, "m1", "m2", "m3")
	ms[0].close()
	more := produceN(t, producer, "b", 60)
	c.waitAll(t, more)
	o.check(t)
	ms[1].close()
	ms[2].close()

	out := k.mk("describe", "group", "g")
	for p := range 6 {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^g\s+t\s+%d\s+(\d+)\s+(\d+)\s+0\s+-`, p)).MatchString(out) {
			t.Fatalf("describe group: partition %d is not committed to its end with no lag:\n%s", p, out)
		}
	}
	committed := committedOffsets(k, "g")

	// More records while nobody consumes: lag.
	later := produceN(t, producer, "c", 30)
	if out := k.mk("group", "list"); !regexp.MustCompile(`(?m)^g\s+consumer\s+Empty\s+0\s+t\s+30$`).MatchString(out) {
		t.Fatalf("group list shows no lag of 30:\n%s", out)
	}
	// A member starting again reads only what came after the commits.
	o2, c2 := newOwnership(), newConsumed()
	m := startGroupMember(t, k.addrs(), "m4", "g", o2, c2.record(o2, "m4"))
	c2.waitAll(t, later)
	m.close()
	c2.mu.Lock()
	for v := range c2.seen {
		if !strings.HasPrefix(v, "c-") {
			t.Errorf("the restarted member read %s, committed before it started", v)
		}
	}
	for p, offs := range c2.byPart {
		if offs[0] != committed[int(p)] {
			t.Errorf("partition %d: resumed at %d, committed %d", p, offs[0], committed[int(p)])
		}
	}
	c2.mu.Unlock()

	// reset-offsets to the start: the next member reads everything again.
	k.mk("group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--execute")
	o3, c3 := newOwnership(), newConsumed()
	m = startGroupMember(t, k.addrs(), "m5", "g", o3, c3.record(o3, "m5"))
	c3.waitAll(t, append(append(values, more...), later...))
	m.close()
}

// TestKafkaGroupCoordinatorKill: while a producer produces and a kgo group
// of three consumes, the group's coordinator broker is SIGKILLed. Another
// broker takes the group over; every acknowledged record is consumed
// (at-least-once), no record is consumed by a member that did not own its
// partition, no partition is owned by two members at once, and no
// committed offset ever goes backwards.
func TestKafkaGroupCoordinatorKill(t *testing.T) {
	k := startKafkaCluster(t, 3, "--group-initial-rebalance-delay", "200ms")
	requireDataPath(t, k)
	k.mk("topic", "create", "t", "--partitions", "6", "--replication-factor", "3")
	cl := k.client()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"g"}
	fr, err := fc.RequestWith(testContext(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	coordinator := int(fr.Coordinators[0].NodeID)

	// Committed offsets are watched from the files for their whole life.
	stop := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		high := map[int]int64{}
		for {
			for p, off := range committedOffsets(k, "g") {
				if off < high[p] {
					watched <- fmt.Errorf("committed offset of partition %d went back from %d to %d", p, high[p], off)
					return
				}
				high[p] = off
			}
			select {
			case <-stop:
				watched <- nil
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	o, c := newOwnership(), newConsumed()
	for _, name := range []string{"m1", "m2", "m3"} {
		startGroupMember(t, k.addrs(), name, "g", o, c.record(o, name),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond))
	}
	producer := k.client(kgo.RequiredAcks(kgo.AllISRAcks()))
	var acked []string
	for round := range 20 {
		if round == 5 {
			k.kill(coordinator)
		}
		acked = append(acked, produceN(t, producer, "r"+strconv.Itoa(round), 50)...)
	}
	c.waitAll(t, acked)
	o.check(t)
	close(stop)
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	kg := groupFile(t, k, "g")["kafka"].(map[string]any)
	if int(kg["coordinator"].(float64)) == coordinator {
		t.Fatalf("group.json still names the killed broker %d", coordinator)
	}
}

// TestKafkaGroupMkConsumeMaxMessages: mk consume --group over the Kafka
// protocol (-b) that stops after --max-messages commits what it printed,
// not the rest of the records it had fetched: the next run of the group
// prints the records that follow, none skipped.
func TestKafkaGroupMkConsumeMaxMessages(t *testing.T) {
	k := startKafkaCluster(t, 1, "--group-initial-rebalance-delay", "0s")
	requireDataPath(t, k)
	k.mk("topic", "create", "t", "--partitions", "1", "--replication-factor", "1")
	produceN(t, k.client(), "r", 6)
	b := strings.Join(k.addrs(), ",")
	var got []string
	for _, args := range [][]string{{"--from-beginning", "--max-messages", "2"}, {"--max-messages", "3"}, {}} {
		args = append(args, "-e") // a run that skipped records must not wait for more
		out := k.mk(append([]string{"consume", "t", "-b", b, "--group", "g"}, args...)...)
		got = append(got, strings.Fields(out)...)
	}
	if want := []string{"r-0", "r-1", "r-2", "r-3", "r-4", "r-5"}; !slices.Equal(got, want) {
		t.Fatalf("three runs of the group printed %v, want %v", got, want)
	}
}
