package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka client groups end to end: franz-go's kgo consumers (an
// implementation of the classic protocol mk did not write) in groups run by
// the coordinator of real broker processes.

// ownership records who owns which partition, from kgo's callbacks, and
// every moment two members owned one partition at once.
type ownership struct {
	mu     sync.Mutex
	owner  map[int32]string
	errs   []string
	events int
}

func newOwnership() *ownership { return &ownership{owner: map[int32]string{}} }

func (o *ownership) opts(name string) []kgo.Opt {
	give := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.events++
		for _, p := range m["t"] {
			if o.owner[p] == name {
				delete(o.owner, p)
			}
		}
	}
	revoke := func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
		// What kgo's own revoke does when autocommitting: commit what
		// was consumed before giving it up. Rebalances wait for the poll
		// loop (BlockRebalanceOnPoll), so everything polled is consumed.
		cl.CommitUncommittedOffsets(ctx)
		give(ctx, cl, m)
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.events++
			for _, p := range m["t"] {
				if cur, ok := o.owner[p]; ok && cur != name {
					o.errs = append(o.errs, fmt.Sprintf("partition %d given to %s while %s owns it", p, name, cur))
				}
				o.owner[p] = name
			}
		}),
		kgo.OnPartitionsRevoked(revoke),
		kgo.OnPartitionsLost(give),
	}
}

// owns reports whether member owns partition p.
func (o *ownership) owns(member string, p int32) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owner[p] == member
}

// byMember is who owns what, partitions sorted.
func (o *ownership) byMember() map[string][]int32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][]int32{}
	for p, m := range o.owner {
		out[m] = append(out[m], p)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

func (o *ownership) check(t testing.TB) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) > 0 {
		t.Fatalf("double ownership:\n%s", strings.Join(o.errs, "\n"))
	}
}

// waitBalanced waits until members own all n partitions, evenly, and
// returns how long that took.
func (o *ownership) waitBalanced(t testing.TB, n int, members ...string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for {
		by := o.byMember()
		ok := len(by) == len(members)
		total := 0
		for _, m := range members {
			c := len(by[m])
			total += c
			if c < n/len(members) || c > (n+len(members)-1)/len(members) {
				ok = false
			}
		}
		if ok && total == n {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions not balanced over %v after 60s: %v", members, by)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// groupMember is one kgo group consumer that polls until closed, handing
// every record to onRecord (if set) before it polls again.
type groupMember struct {
	name     string
	cl       *kgo.Client
	done     chan struct{}
	onRecord func(*kgo.Record)
}

func (k *kafkaCluster) groupMember(t testing.TB, name, group string, o *ownership, opts ...kgo.Opt) *groupMember {
	t.Helper()
	return newGroupMember(t, k.addrs(), name, group, o, opts...)
}

// newGroupMember starts a member of group at the brokers addrs (mk's or
// kfake's).
func newGroupMember(t testing.TB, addrs []string, name, group string, o *ownership, opts ...kgo.Opt) *groupMember {
	t.Helper()
	return startGroupMember(t, addrs, name, group, o, nil, opts...)
}

func startGroupMember(t testing.TB, addrs []string, name, group string, o *ownership, onRecord func(*kgo.Record), opts ...kgo.Opt) *groupMember {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics("t"),
		kgo.BlockRebalanceOnPoll(),
	}, append(opts, o.opts(name)...)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	m := &groupMember{name: name, cl: cl, done: make(chan struct{}), onRecord: onRecord}
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			if m.onRecord != nil {
				fs.EachRecord(m.onRecord)
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close leaves the group (kgo sends LeaveGroup) and stops the client.
func (m *groupMember) close() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cl.Close()
	<-m.done
}

// TestKafkaGroupMembers: three kgo members, with the range and the
// cooperative-sticky assignors, share six partitions two each; when one
// leaves the other two take its partitions over at once (no session
// timeout), and at no moment do two members own one partition. mk
// describe group shows the members with their client ids and hosts.
func TestKafkaGroupMembers(t *testing.T) {
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			k := startKafkaCluster(t, 3, "--group-initial-rebalance-delay", "200ms")
			k.mk("topic", "create", "t", "--partitions", "6", "--replication-factor", "2")
			o := newOwnership()
			var ms []*groupMember
			for _, name := range []string{"m1", "m2", "m3"} {
				ms = append(ms, k.groupMember(t, name, "g", o, kgo.Balancers(bal.b)))
			}
			o.waitBalanced(t, 6, "m1", "m2", "m3")
			o.check(t)
			out := k.mk("describe", "group", "g", "--members")
			for _, want := range []string{`ProtocolType:\s+consumer`, `State:\s+Stable`, `Strategy:\s+` + bal.name, `Members:\s+3`,
				`(?m)^g\s+m1-[0-9a-f-]{36}\s+/127\.0\.0\.1\s+m1\s+-\s+2\s+t-\d,t-\d$`} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Fatalf("describe group --members lacks %s:\n%s", want, out)
				}
			}

			before := o.byMember()
			ms[0].close()
			took := o.waitBalanced(t, 6, "m2", "m3")
			o.check(t)
			t.Logf("%s: after m1's LeaveGroup every partition was owned again in %v", bal.name, took)
			if bal.name == "cooperative-sticky" {
				// Sticky: what m2 and m3 owned before, they still own.
				after := o.byMember()
				for _, m := range []string{"m2", "m3"} {
					for _, p := range before[m] {
						if !slices.Contains(after[m], p) {
							t.Fatalf("%s lost partition %d: before %v, after %v", m, p, before, after)
						}
					}
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for !regexp.MustCompile(`Members:\s+2`).MatchString(k.mk("describe", "group", "g")) {
				if time.Now().After(deadline) {
					t.Fatalf("describe group still shows 3 members:\n%s", k.mk("describe", "group", "g"))
				}
				time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
			}
			ms[1].close()
			ms[2].close()
			deadline = time.Now().Add(20 * time.Second)
			for !regexp.MustCompile(`State:\s+Empty`).MatchString(k.mk("describe", "group", "g")) {
				if time.Now().After(deadline) {
					t.Fatalf("the group is not empty once every member left:\n%s", k.mk("describe", "group", "g"))
				}
				time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
			}
		})
	}
}

// TestKafkaGroupAdmin: franz-go's kadm manages groups as it manages
// Kafka's: ListGroups (asked of every broker: each group listed once, by
// its coordinator, mk's own groups among them), DescribeGroups (the
// consumer protocol's subscriptions and assignments, decoded by kadm),
// OffsetDelete (refused for a topic the members consume), CommitOffsets
// and FetchOffsets of a group without members, DeleteGroups.
func TestKafkaGroupAdmin(t *testing.T) {
	k := startKafkaCluster(t, 3, "--group-initial-rebalance-delay", "0s")
	k.mk("topic", "create", "t", "--partitions", "4", "--replication-factor", "2")
	k.mk("topic", "create", "u", "--partitions", "1", "--replication-factor", "2")
	ctx := testContext(t)
	adm := k.admin()

	o := newOwnership()
	k.groupMember(t, "m1", "live", o)
	k.groupMember(t, "m2", "live", o)
	o.waitBalanced(t, 4, "m1", "m2")
	// Offsets only (a group without members), from kadm; and an mk group
	// with offsets and no live member.
	offs := kadm.Offsets{}
	offs.AddOffset("t", 0, 7, -1)
	offs.AddOffset("u", 0, 3, -1)
	for _, g := range []string{"live", "idle"} {
		r, err := adm.CommitOffsets(ctx, g, offs)
		if err != nil {
			t.Fatal(err)
		}
		if g == "live" {
			// Only members commit to a group that has members.
			if err := r.Error(); !errors.Is(err, kerr.UnknownMemberID) {
				t.Fatalf("kadm commit to a group with members: %v", err)
			}
		} else if err := r.Error(); err != nil {
			t.Fatalf("kadm commit to an idle group: %v", err)
		}
	}
	k.mk("consume", "u", "--group", "native", "-e")

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"live": {"consumer", "Stable"}, "idle": {"", "Empty"}, "native": {"mk", "Empty"}}
	if len(listed) != len(want) {
		t.Fatalf("listed %v", listed.Sorted())
	}
	for name, w := range want {
		l, ok := listed[name]
		if !ok || l.ProtocolType != w[0] || l.State != w[1] {
			t.Fatalf("listed %s: %+v, want protocol type %q state %s", name, l, w[0], w[1])
		}
	}
	if stable, _ := adm.ListGroups(ctx, "Stable"); len(stable) != 1 {
		t.Fatalf("listed Stable groups: %v", stable.Sorted())
	}

	described, err := adm.DescribeGroups(ctx, "live", "idle")
	if err != nil {
		t.Fatal(err)
	}
	d := described["live"]
	if d.Err != nil || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol == "" || len(d.Members) != 2 {
		t.Fatalf("described live: %+v", d)
	}
	assigned := 0
	for _, m := range d.Members {
		c, ok := m.Assigned.AsConsumer()
		j, ok2 := m.Join.AsConsumer()
		if !ok || !ok2 || !slices.Contains(j.Topics, "t") || m.ClientHost != "/127.0.0.1" {
			t.Fatalf("member %+v: assigned %v %+v, joined %v %+v", m, ok, c, ok2, j)
		}
		for _, at := range c.Topics {
			assigned += len(at.Partitions)
		}
	}
	if assigned != 4 {
		t.Fatalf("described assignments cover %d of 4 partitions", assigned)
	}
	if described["idle"].State != "Empty" || len(described["idle"].Members) != 0 {
		t.Fatalf("described idle: %+v", described["idle"])
	}

	// OffsetDelete: t is consumed by live's members; u is not.
	dr, err := adm.DeleteOffsets(ctx, "idle", kadm.TopicsSet{"t": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := dr.Lookup("t", 0); err != nil {
		t.Fatalf("offset delete of an idle group: %v", err)
	}
	fetched, err := adm.FetchOffsets(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("t", 0); ok {
		t.Fatalf("t-0 still has an offset after its delete: %v", fetched)
	}
	if r, ok := fetched.Lookup("u", 0); !ok || r.At != 3 {
		t.Fatalf("u-0: %+v", r)
	}
	k.groupMember(t, "m3", "live", o) // a third member, any commit is now a member's
	dr, err = adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{"t": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := dr.Lookup("t", 0); !errors.Is(err, kerr.GroupSubscribedToTopic) {
		t.Fatalf("offset delete of a consumed topic: %v", err)
	}

	// DeleteGroups: refused while members are live; an empty group goes.
	del, err := adm.DeleteGroups(ctx, "live", "idle", "nosuch")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(del["live"].Err, kerr.NonEmptyGroup) || del["idle"].Err != nil || !errors.Is(del["nosuch"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("delete groups: %+v", del)
	}
	if out := k.mk("group", "list"); strings.Contains(out, "idle") {
		t.Fatalf("the deleted group is listed:\n%s", out)
	}
}

// TestKafkaGroupStaticMembers: kgo members with a group.instance.id
// (KIP-345) do not leave the group when they close; a follower that
// restarts within its session timeout gets its partitions back under a new
// member id, and the group does not rebalance: same generation, the other
// member keeps its partitions throughout. (A restarted leader is told it
// leads without assigning, KIP-814, but kgo then rejoins to see the topics
// it missed, which rebalances the group, as it would with Kafka.)
func TestKafkaGroupStaticMembers(t *testing.T) {
	k := startKafkaCluster(t, 1, "--group-initial-rebalance-delay", "0s")
	k.mk("topic", "create", "t", "--partitions", "4", "--replication-factor", "1")
	o := newOwnership()
	static := func(id string) kgo.Opt { return kgo.InstanceID(id) }
	members := map[string]*groupMember{
		"i1": k.groupMember(t, "i1", "g", o, static("i1")),
		"i2": k.groupMember(t, "i2", "g", o, static("i2")),
	}
	o.waitBalanced(t, 4, "i1", "i2")
	generation := func() string {
		return regexp.MustCompile(`Generation:\s+(\d+)`).FindStringSubmatch(k.mk("describe", "group", "g"))[1]
	}
	leader := groupFile(t, k, "g")["kafka"].(map[string]any)["leader"].(string)
	follower := "i1"
	if strings.HasPrefix(leader, "i1-") {
		follower = "i2"
	}
	before, gen := o.byMember(), generation()
	o.mu.Lock()
	events := o.events
	o.mu.Unlock()

	members[follower].close()
	if out := k.mk("describe", "group", "g"); !regexp.MustCompile(`Members:\s+2`).MatchString(out) {
		t.Fatalf("a static member that closed left the group:\n%s", out)
	}
	k.groupMember(t, follower, "g", o, static(follower))
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Equal(o.byMember()[follower], before[follower]) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted static member owns %v, before %v", o.byMember()[follower], before[follower])
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
	if g := generation(); g != gen {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(k.dir), "broker1.log"))
		t.Fatalf("generation %s -> %s: the static member's restart rebalanced the group\n%s", gen, g, log)
	}
	o.mu.Lock()
	// The follower's revoke on close and its assignment on restart;
	// nothing for the leader.
	if o.events != events+2 {
		t.Errorf("%d callbacks after the follower's restart, want 2", o.events-events)
	}
	o.mu.Unlock()
	o.check(t)
}
