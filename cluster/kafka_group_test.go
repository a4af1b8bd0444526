package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
)

// TestKafkaGroupStopEarlyRestart: a group member that stops after a
// number of records (mk consume --group -n N) commits the records it
// handed out, not the rest of the poll kgo fetched; the next member of
// the group goes on at the record that follows. Run against kfake, a
// broker mk did not write: when this failed (the whole poll committed),
// the next "-n 1" waited in PollFetches for a record that had already
// been skipped, on kfake as on mk's brokers: the bug was the client's.
func TestKafkaGroupStopEarlyRestart(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := p.Send(1, time.Now().UnixMilli(), nil, []byte(fmt.Sprint(i+1)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, n := range []int{2, 1, 1} {
		// A member that does not exit at the end (no -e) waits for its
		// n records; a skipped record makes it wait until the deadline.
		c, cancel := context.WithTimeout(ctx(t), 10*time.Second)
		var recs collected
		opts := client.GroupOptions{Group: "g1", ClientID: "mk-test", ResetEarliest: i == 0}
		err := k.ConsumeGroup(c, []string{"t"}, opts, recs.handler(n))
		expired := c.Err()
		cancel()
		if err != nil || expired != nil {
			t.Fatalf("run %d (-n %d): %v %v after %v", i+1, n, err, expired, recs.get())
		}
		got = append(got, recs.get()...)
	}
	want := []string{"t/1/0 =1", "t/1/1 =2", "t/1/2 =3", "t/1/3 =4"}
	if !slices.Equal(got, want) {
		t.Fatalf("three runs printed %q, want %q", got, want)
	}
}

// TestKafkaGroupNewPartitions: partitions added to a topic a group
// consumes are given out at once (the consumer's topic check refreshes
// kgo's metadata, so the group's leader rejoins), not at kgo's next
// metadata refresh five minutes later.
func TestKafkaGroupNewPartitions(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	c, stop := context.WithCancel(ctx(t))
	defer stop()
	var recs collected
	done := make(chan error, 1)
	go func() {
		done <- k.ConsumeGroup(c, []string{"t"}, client.GroupOptions{Group: "g", ClientID: "a", ResetEarliest: true}, recs.handler(1))
	}()
	waitFor(t, func() bool {
		v, _, err := k.Group(ctx(t), "g")
		return err == nil && v.State == "Stable" && len(v.Members) == 1 && len(v.Members[0].Partitions) == 1
	})
	if err := k.AlterTopic(ctx(t), "t", TopicChange{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	p, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(2, time.Now().UnixMilli(), nil, []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if got := recs.get(); err != nil || !slices.Equal(got, []string{"t/2/0 =new"}) {
			t.Fatalf("member: %v, printed %q", err, got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the record of a new partition was not consumed within 20s")
	}
}

// TestKafkaGroupOtherStrategy: a member asking for another assignor than
// the group's members use is refused by the coordinator
// (INCONSISTENT_GROUP_PROTOCOL); mk says which strategy the group uses, a
// usage error (exit 2) as with mk's own groups.
func TestKafkaGroupOtherStrategy(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	c, stop := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	var recs collected
	go func() {
		done <- k.ConsumeGroup(c, []string{"t"}, client.GroupOptions{Group: "g", ClientID: "a", Strategy: "roundrobin"}, recs.handler(0))
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("live member: %v", err)
		}
	}()
	waitFor(t, func() bool {
		v, _, err := k.Group(ctx(t), "g")
		return err == nil && v.State == "Stable" && len(v.Members) == 1
	})
	err := k.ConsumeGroup(ctx(t), []string{"t"}, client.GroupOptions{Group: "g", ClientID: "b", ExitAtEnd: true}, recs.handler(0))
	if !errors.Is(err, coord.ErrInvalidConfig) || err.Error() != "group g uses the roundrobin strategy; this consumer asked for range" {
		t.Fatalf("member asking for range: %v", err)
	}
}

// TestKafkaGroupCommitOutOfRange: a committed offset that retention (here
// DeleteRecords) removed is reset by the member's policy, and the member
// says so as mk's own consumers do: with -e and while following.
func TestKafkaGroupCommitOutOfRange(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var recs [][2]string
	for i := range 6 {
		recs = append(recs, [2]string{"", fmt.Sprint(i)})
	}
	produce(t, k, "t", ProducerOptions{Acks: client.AcksAll}, recs...)
	for _, g := range []string{"e", "follow"} {
		var first collected
		if err := k.ConsumeGroup(ctx(t), []string{"t"}, client.GroupOptions{Group: g, ResetEarliest: true}, first.handler(2)); err != nil {
			t.Fatal(err)
		}
	}
	to := kadm.Offsets{}
	to.AddOffset("t", 0, 4, -1)
	deleted, err := k.adm.DeleteRecords(ctx(t), to)
	if err != nil || deleted.Error() != nil {
		t.Fatalf("delete records: %v %v", err, deleted.Error())
	}
	want := "partition t-0: offset 2 is out of range (the log holds 4 to 6); resetting to 4"
	for _, g := range []string{"e", "follow"} {
		var warnings []string
		var mu sync.Mutex
		opts := client.GroupOptions{Group: g, ResetEarliest: true, ExitAtEnd: g == "e", Warnf: func(f string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			warnings = append(warnings, fmt.Sprintf(f, args...))
		}}
		var got collected
		max := 0
		if g == "follow" {
			max = 2
		}
		if err := k.ConsumeGroup(ctx(t), []string{"t"}, opts, got.handler(max)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if !slices.Equal(warnings, []string{want}) || !slices.Equal(got.get(), []string{"t/0/4 =4 src:test", "t/0/5 =5 src:test"}) {
			t.Errorf("group %s: warned %q, printed %q", g, warnings, got.get())
		}
		mu.Unlock()
	}
}

// TestKafkaGroupRemovedMember: a member the coordinator no longer knows
// (UNKNOWN_MEMBER_ID: its session expired, say while it was stopped) joins
// again and goes on consuming, as mk's own members do; it used to end
// with "partition -0: ... (UNKNOWN_MEMBER_ID)".
func TestKafkaGroupRemovedMember(t *testing.T) {
	c := startKfake(t, kfake.GroupMinSessionTimeout(100*time.Millisecond))
	k := dial(t, c)
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	removed := false
	var warnings []string
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		if removed {
			return nil, nil, false
		}
		removed = true
		resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	var got collected
	done := make(chan error, 1)
	opts := client.GroupOptions{Group: "g", ClientID: "a", ResetEarliest: true, SessionTimeout: time.Second, Warnf: func(f string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, fmt.Sprintf(f, args...))
	}}
	go func() { done <- k.ConsumeGroup(ctx(t), []string{"t"}, opts, got.handler(1)) }()
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return removed
	})
	produce(t, k, "t", ProducerOptions{Acks: client.AcksAll}, [2]string{"", "after"})
	select {
	case err := <-done:
		if err != nil || len(got.get()) != 1 {
			t.Fatalf("member: %v, printed %q", err, got.get())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the removed member did not consume within 20s")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(warnings, "group g: lost t-0 (removed from the group); rejoining") {
		t.Errorf("warnings %q", warnings)
	}
}

// TestKafkaGroupCommitsEmptyPartitions: a member commits where it started
// the partitions it was assigned and read nothing of, as Kafka's Java
// consumer and mk's own groups do: records produced to such a partition
// later are read by the group's next member even when it starts
// partitions without a commit at the end.
func TestKafkaGroupCommitsEmptyPartitions(t *testing.T) {
	k := dial(t, startKfake(t))
	if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	send := func(p int32, v string) {
		pr, err := k.NewProducer(ctx(t), "t", ProducerOptions{Acks: client.AcksAll})
		if err != nil {
			t.Fatal(err)
		}
		if err := pr.Send(p, time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
		if err := pr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	send(1, "one")
	for _, commit := range []string{client.CommitAuto, client.CommitSync} {
		g := "g-" + commit
		var first collected
		if err := k.ConsumeGroup(ctx(t), []string{"t"}, client.GroupOptions{Group: g, ResetEarliest: true, ExitAtEnd: true, Commit: commit}, first.handler(0)); err != nil {
			t.Fatal(err)
		}
		committed, err := k.committed(ctx(t), g)
		if err != nil {
			t.Fatal(err)
		}
		if len(committed) != 2 || committed[coord.TopicPartition{Topic: "t", Partition: 0}] != 0 || committed[coord.TopicPartition{Topic: "t", Partition: 1}] != 1 {
			t.Fatalf("%s: committed %v, want t-0 at 0 and t-1 at 1", g, committed)
		}
	}
	send(0, "zero")
	// A member that starts uncommitted partitions at the end (latest)
	// goes on from the commits: it reads the record of partition 0.
	var next collected
	c, cancel := context.WithTimeout(ctx(t), 10*time.Second)
	defer cancel()
	if err := k.ConsumeGroup(c, []string{"t"}, client.GroupOptions{Group: "g-auto"}, next.handler(1)); err != nil || c.Err() != nil {
		t.Fatalf("next member: %v %v, printed %q", err, c.Err(), next.get())
	}
	if got := next.get(); !slices.Equal(got, []string{"t/0/0 =zero"}) {
		t.Fatalf("next member printed %q", got)
	}
}
