package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
