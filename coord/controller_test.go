package coord

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestElectLeaders(t *testing.T) {
	type part struct {
		replicas, isr []int
		leader, epoch int
	}
	tests := []struct {
		name    string
		unclean bool
		alive   []int
		in      part
		want    part
		changed bool
	}{
		{"leader alive, all in sync", false, []int{1, 2, 3},
			part{[]int{1, 2, 3}, []int{1, 2, 3}, 1, 0}, part{[]int{1, 2, 3}, []int{1, 2, 3}, 1, 0}, false},
		{"leader alive, follower dead leaves isr", false, []int{1, 2},
			part{[]int{1, 2, 3}, []int{1, 2, 3}, 1, 4}, part{[]int{1, 2, 3}, []int{1, 2}, 1, 4}, true},
		{"leader dead: first live isr replica in assignment order", false, []int{2, 3},
			part{[]int{1, 3, 2}, []int{2, 1, 3}, 1, 0}, part{[]int{1, 3, 2}, []int{2, 3}, 3, 1}, true},
		{"leader dead: live replica outside isr is skipped", false, []int{2, 3},
			part{[]int{1, 2, 3}, []int{1, 3}, 1, 5}, part{[]int{1, 2, 3}, []int{3}, 3, 6}, true},
		{"no live isr member: no leader, isr kept", false, []int{2},
			part{[]int{1, 2, 3}, []int{1, 3}, 1, 2}, part{[]int{1, 2, 3}, []int{1, 3}, NoLeader, 3}, true},
		{"no leader stays no leader", false, []int{2},
			part{[]int{1, 2, 3}, []int{1, 3}, NoLeader, 3}, part{[]int{1, 2, 3}, []int{1, 3}, NoLeader, 3}, false},
		{"isr member back: elected", false, []int{2, 3},
			part{[]int{1, 2, 3}, []int{1, 3}, NoLeader, 3}, part{[]int{1, 2, 3}, []int{3}, 3, 4}, true},
		{"unclean: first live replica, isr of itself", true, []int{2, 3},
			part{[]int{1, 3, 2}, []int{1}, 1, 0}, part{[]int{1, 3, 2}, []int{3}, 3, 1}, true},
		{"unclean prefers the isr", true, []int{2, 3},
			part{[]int{1, 3, 2}, []int{1, 2}, 1, 0}, part{[]int{1, 3, 2}, []int{2}, 2, 1}, true},
		{"unclean with nobody alive", true, nil,
			part{[]int{1, 2}, []int{1, 2}, 1, 0}, part{[]int{1, 2}, []int{1, 2}, NoLeader, 1}, true},
		{"nobody alive at once: isr kept whole", false, nil,
			part{[]int{1, 2, 3}, []int{1, 2, 3}, 1, 0}, part{[]int{1, 2, 3}, []int{1, 2, 3}, NoLeader, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := &Topic{Name: "t", ID: "x", Version: 1, Config: map[string]string{},
				Partitions: []Partition{{Replicas: tt.in.replicas, ISR: tt.in.isr, Leader: tt.in.leader, LeaderEpoch: tt.in.epoch}}}
			if tt.unclean {
				tp.Config[ConfigUncleanLeaderElection] = "true"
			}
			next, changes := electLeaders(tp, func(id int) bool { return slices.Contains(tt.alive, id) }, nil)
			p := next.Partitions[0]
			got := part{p.Replicas, p.ISR, p.Leader, p.LeaderEpoch}
			if !slices.Equal(got.isr, tt.want.isr) || got.leader != tt.want.leader || got.epoch != tt.want.epoch || !slices.Equal(got.replicas, tt.want.replicas) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if (len(changes) > 0) != tt.changed {
				t.Errorf("changes = %+v, want changed=%v", changes, tt.changed)
			}
			if tp.Partitions[0].Leader != tt.in.leader || !slices.Equal(tp.Partitions[0].ISR, tt.in.isr) {
				t.Error("electLeaders changed its input")
			}
			if len(changes) > 0 && (changes[0].OldLeader != tt.in.leader || changes[0].NewLeader != tt.want.leader || changes[0].NewEpoch != tt.want.epoch) {
				t.Errorf("change = %+v", changes[0])
			}
		})
	}
}

// setPartition forces a partition's assignment and state, as a test setup.
func setPartition(t *testing.T, c *Cluster, topic string, replicas, isr []int, leader int) {
	t.Helper()
	_, err := c.UpdateTopic(topic, func(tp *Topic) error {
		p := &tp.Partitions[0]
		p.Replicas, p.ISR, p.Leader = replicas, isr, leader
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hookLog records the controller's hook calls.
type hookLog struct {
	mu      sync.Mutex
	calls   []string
	errs    []error
	fail    atomic.Bool
	elected chan int64
	resign  chan int64
}

func (l *hookLog) hooks() ControllerHooks {
	l.elected, l.resign = make(chan int64, 10), make(chan int64, 10)
	return ControllerHooks{
		OnElected:  func(e int64) { l.elected <- e },
		OnResigned: func(e int64) { l.resign <- e },
		OnLeaderChange: func(topic string, partition, oldLeader, newLeader, newEpoch int) error {
			if l.fail.Load() {
				return errors.New("replica is busy")
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.calls = append(l.calls, fmt.Sprintf("%s-%d %d->%d epoch %d", topic, partition, oldLeader, newLeader, newEpoch))
			return nil
		},
		OnError: func(err error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.errs = append(l.errs, err)
		},
	}
}

func (l *hookLog) callsFor(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// startController runs RunController in this process until the test ends.
func startController(t *testing.T, c *Cluster, id int, h ControllerHooks) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.RunController(ctx, id, h)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func partitionOf(t *testing.T, c *Cluster, topic string) Partition {
	t.Helper()
	tp, err := c.Topic(topic)
	if err != nil {
		t.Fatal(err)
	}
	return tp.Partitions[0]
}

func TestControllerElections(t *testing.T) {
	c := newCluster(t)
	brokers := registerBrokers(t, c, 1, 2, 3, 9)
	for _, name := range []string{"elect", "probe", "unclean"} {
		cfg := map[string]string{}
		if name == "unclean" {
			cfg[ConfigUncleanLeaderElection] = "true"
		}
		if _, err := c.CreateTopic(name, 1, 1, cfg); err != nil {
			t.Fatal(err)
		}
	}
	setPartition(t, c, "elect", []int{1, 2, 3}, []int{1, 2, 3}, 1)
	setPartition(t, c, "probe", []int{2}, []int{2}, 2)
	setPartition(t, c, "unclean", []int{3, 9}, []int{3}, 3)
	var log hookLog
	startController(t, c, 9, log.hooks())
	<-log.elected

	check := func(topic string, leader, epoch int, isr []int) {
		t.Helper()
		var p Partition
		waitFor(t, fmt.Sprintf("%s leader %d", topic, leader), func() bool {
			p = partitionOf(t, c, topic)
			return p.Leader == leader && p.LeaderEpoch == epoch
		})
		if !slices.Equal(p.ISR, isr) {
			t.Fatalf("%s: isr %v, want %v", topic, p.ISR, isr)
		}
	}
	restart := func(id int) {
		t.Helper()
		s, err := c.RegisterBroker(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}

	brokers[1].Close()
	check("elect", 2, 1, []int{2, 3})
	brokers[2].Close()
	check("elect", 3, 2, []int{3})
	check("probe", NoLeader, 1, []int{2})
	brokers[3].Close()
	check("elect", NoLeader, 3, []int{3})
	check("unclean", 9, 1, []int{9})

	// Broker 2 returns: it leads probe (in its ISR) but not elect (out of
	// it). Topics are reconciled in name order, so once probe has its
	// leader, elect has been looked at with broker 2 alive.
	restart(2)
	check("probe", 2, 2, []int{2})
	if p := partitionOf(t, c, "elect"); p.Leader != NoLeader {
		t.Fatalf("elect elected %d from outside its isr without unclean election", p.Leader)
	}
	restart(3)
	check("elect", 3, 4, []int{3})

	want := []string{"elect-0 1->2 epoch 1", "elect-0 2->3 epoch 2", "elect-0 3->-1 epoch 3", "elect-0 -1->3 epoch 4"}
	if got := log.callsFor("elect-"); !slices.Equal(got, want) {
		t.Errorf("hook calls:\n%q\nwant\n%q", got, want)
	}
	if got := log.callsFor("unclean-"); !slices.Equal(got, []string{"unclean-0 3->9 epoch 1"}) {
		t.Errorf("unclean hook calls: %q", got)
	}
}

// The hook fences the old leader; if it fails, the new leader must not be
// published.
func TestControllerDoesNotPublishWhenTheHookFails(t *testing.T) {
	c := newCluster(t)
	brokers := registerBrokers(t, c, 1, 2, 9)
	if _, err := c.CreateTopic("fenced", 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	setPartition(t, c, "fenced", []int{1, 2}, []int{1, 2}, 1)
	before := partitionOf(t, c, "fenced")
	var log hookLog
	log.fail.Store(true)
	startController(t, c, 9, log.hooks())
	<-log.elected

	brokers[1].Close()
	waitFor(t, "the failing hook to be reported", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.errs) > 0 && strings.Contains(log.errs[0].Error(), "replica is busy")
	})
	if p := partitionOf(t, c, "fenced"); !partitionEqual(p, before) {
		t.Fatalf("partition published despite the failing hook: %+v", p)
	}
	log.fail.Store(false)
	waitFor(t, "the leader change once the hook works", func() bool {
		p := partitionOf(t, c, "fenced")
		return p.Leader == 2 && p.LeaderEpoch == 1
	})
}

// A controller whose epoch has moved on writes nothing, resigns, and
// competes again.
func TestControllerIsFencedByEpoch(t *testing.T) {
	c := newCluster(t)
	brokers := registerBrokers(t, c, 1, 2, 9)
	if _, err := c.CreateTopic("t", 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	setPartition(t, c, "t", []int{1, 2}, []int{1, 2}, 1)

	// A stale epoch cannot write, even with a change pending.
	brokers[1].Close()
	epoch, err := c.claimController(9, -1)
	if err != nil {
		t.Fatal(err)
	}
	var log hookLog
	h := log.hooks()
	stale := &controller{c: c, brokerID: 9, h: h, waiters: newLockWaiters()}
	if _, err := stale.reconcile(epoch-1, false, false); !errors.Is(err, ErrNotController) {
		t.Fatalf("reconcile with a stale epoch = %v, want ErrNotController", err)
	}
	if p := partitionOf(t, c, "t"); p.Leader != 1 || len(log.callsFor("")) != 0 {
		t.Fatalf("stale controller changed the partition: %+v", p)
	}

	startController(t, c, 9, h)
	e1 := <-log.elected
	if e1 != epoch+1 {
		t.Fatalf("elected with epoch %d, want %d", e1, epoch+1)
	}
	if _, err := c.claimController(5, -1); err != nil { // someone else wins
		t.Fatal(err)
	}
	if got := <-log.resign; got != e1 {
		t.Fatalf("resigned epoch %d, want %d", got, e1)
	}
	if e2 := <-log.elected; e2 != e1+2 {
		t.Fatalf("re-elected with epoch %d, want %d", e2, e1+2)
	}
	info, err := c.Controller()
	if err != nil || !info.Active || info.Broker != 9 || info.Epoch != e1+2 {
		t.Fatalf("Controller() = %+v, %v", info, err)
	}
}

func TestNoController(t *testing.T) {
	c := newCluster(t)
	info, err := c.Controller()
	if err != nil || info.Broker != -1 || info.Active || info.Epoch != 0 {
		t.Fatalf("Controller() of a new cluster = %+v, %v", info, err)
	}
}

// Two brokers in two processes compete; SIGKILL the controller and the
// other takes over with a higher epoch.
func TestControllerFailoverOnKill(t *testing.T) {
	c := newCluster(t)
	kids := map[int]*child{1: startChild(t, c.Dir(), "controller", 1), 2: startChild(t, c.Dir(), "controller", 2)}
	var info ControllerInfo
	waitFor(t, "a controller", func() bool { info, _ = c.Controller(); return info.Active })
	winner, other := info.Broker, 3-info.Broker
	if got := kids[winner].expect(t, "elected"); got != strconv.FormatInt(info.Epoch, 10) {
		t.Fatalf("controller says epoch %s, controller.json %d", got, info.Epoch)
	}
	kids[winner].kill(t)
	waitFor(t, "broker "+strconv.Itoa(other)+" to take over", func() bool {
		i, _ := c.Controller()
		return i.Active && i.Broker == other && i.Epoch > info.Epoch
	})
	kids[other].expect(t, "elected")
}

// A stopped controller keeps its lock; a live broker takes over by epoch,
// and the old controller, once resumed, resigns instead of writing.
func TestControllerTakeoverFromStoppedController(t *testing.T) {
	c := newCluster(t)
	kids := map[int]*child{1: startChild(t, c.Dir(), "controller", 1), 2: startChild(t, c.Dir(), "controller", 2)}
	var info ControllerInfo
	waitFor(t, "a controller", func() bool { info, _ = c.Controller(); return info.Active })
	winner, other := info.Broker, 3-info.Broker
	kids[winner].expect(t, "elected")

	kids[winner].signal(t, syscall.SIGSTOP)
	waitFor(t, "broker "+strconv.Itoa(other)+" to take over", func() bool {
		i, _ := c.Controller()
		return i.Broker == other && i.Epoch == info.Epoch+1
	})
	kids[other].expect(t, "elected")

	kids[winner].signal(t, syscall.SIGCONT)
	kids[winner].expect(t, "resigned "+strconv.FormatInt(info.Epoch, 10))
	// Whoever holds the lock now, it is not the old controller once dead.
	kids[winner].kill(t)
	waitFor(t, "the new controller to hold the lock", func() bool {
		i, _ := c.Controller()
		return i.Active && i.Broker == other
	})
	if i, _ := c.Controller(); i.Epoch != info.Epoch+1 {
		t.Fatalf("controller epoch %d after the old controller resumed, want %d", i.Epoch, info.Epoch+1)
	}
}

// The controller learns of a broker's death from its lock at once: with
// the backstop pushed out of reach, and no file changing, it still elects.
func TestControllerSeesDeathWithoutABackstop(t *testing.T) {
	old := ControllerBackstop
	ControllerBackstop = time.Hour
	t.Cleanup(func() { ControllerBackstop = old }) // after the controller stops
	c := newCluster(t)
	brokers := registerBrokers(t, c, 1, 2, 3, 9)
	for _, name := range []string{"t", "sync"} {
		if _, err := c.CreateTopic(name, 1, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	setPartition(t, c, "t", []int{1, 2}, []int{1, 2}, 1)
	setPartition(t, c, "sync", []int{2, 3}, []int{2, 3}, 2)
	brokers[3].Close()
	var log hookLog
	startController(t, c, 9, log.hooks())
	<-log.elected
	// The first pass shrinks sync's ISR: past it, the controller has seen
	// broker 1 alive and waits.
	waitFor(t, "the first pass", func() bool { return slices.Equal(partitionOf(t, c, "sync").ISR, []int{2}) })
	brokers[1].Close()
	waitFor(t, "broker 2 to lead", func() bool { return partitionOf(t, c, "t").Leader == 2 })
}

func TestLockWaitersWakeOnRelease(t *testing.T) {
	c := newCluster(t)
	s := registerBrokers(t, c, 1)[1]
	w := newLockWaiters()
	w.wait(c.brokerLockPath(1))
	w.wait(c.brokerLockPath(1)) // one waiter per path
	select {
	case <-w.c:
		t.Fatal("woke while the lock is held")
	default:
	}
	s.Close()
	select {
	case <-w.c:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake after the lock was released")
	}
	waitFor(t, "the waiter to finish", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.waiting) == 0
	})
}

// A corrupt topic file is reported once, not on every pass, and does not
// stop elections in the other topics.
func TestControllerReportsALastingErrorOnce(t *testing.T) {
	c := newCluster(t)
	brokers := registerBrokers(t, c, 1, 2, 9)
	if _, err := c.CreateTopic("good", 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	setPartition(t, c, "good", []int{1, 2}, []int{1, 2}, 1)
	if err := os.WriteFile(c.topicPath("bad"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log hookLog
	startController(t, c, 9, log.hooks())
	<-log.elected
	corrupt := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		n := 0
		for _, err := range log.errs {
			if errors.Is(err, ErrCorruptMetadata) && strings.Contains(err.Error(), "bad.json") {
				n++
			}
		}
		return n
	}
	waitFor(t, "the corrupt file to be reported", func() bool { return corrupt() > 0 })
	// Two elections, each a pass at least, after the first report.
	brokers[1].Close()
	waitFor(t, "broker 2 to lead good", func() bool { return partitionOf(t, c, "good").Leader == 2 })
	brokers[2].Close()
	waitFor(t, "good to lose its leader", func() bool { return partitionOf(t, c, "good").Leader == NoLeader })
	if n := corrupt(); n != 1 {
		t.Fatalf("the corrupt file was reported %d times, want once", n)
	}
}

// Preferred leader election (auto leader rebalance) moves leadership back
// to the first replica only when it is alive and in the ISR, bumping the
// epoch; without the flag nothing moves.
func TestElectPreferredLeaders(t *testing.T) {
	tp := &Topic{Name: "t", Config: map[string]string{}, Partitions: []Partition{
		{Partition: 0, Replicas: []int{1, 2, 3}, Leader: 2, LeaderEpoch: 4, ISR: []int{2, 3, 1}}, // 1 back in the ISR: moves
		{Partition: 1, Replicas: []int{1, 2, 3}, Leader: 2, LeaderEpoch: 1, ISR: []int{2, 3}},    // 1 not in the ISR yet: stays
		{Partition: 2, Replicas: []int{3, 1, 2}, Leader: 3, LeaderEpoch: 0, ISR: []int{3, 1, 2}}, // already preferred
		{Partition: 3, Replicas: []int{4, 2, 3}, Leader: 2, LeaderEpoch: 2, ISR: []int{2, 3, 4}}, // 4 dead: stays
	}}
	alive := func(id int) bool { return id != 4 }
	if _, changes := elect(tp, alive, nil, false); len(changes) != 1 || changes[0].Partition != 3 {
		// Only the ISR of partition 3 loses the dead broker 4.
		t.Fatalf("without preferred election: %+v", changes)
	}
	next, changes := elect(tp, alive, nil, true)
	var moved []int
	for _, ch := range changes {
		if ch.OldLeader != ch.NewLeader {
			moved = append(moved, ch.Partition)
		}
	}
	if !slices.Equal(moved, []int{0}) {
		t.Fatalf("moved partitions %v, want [0]", moved)
	}
	if p := next.Partitions[0]; p.Leader != 1 || p.LeaderEpoch != 5 {
		t.Fatalf("partition 0 after preferred election: leader %d epoch %d", p.Leader, p.LeaderEpoch)
	}
	if p := next.Partitions[1]; p.Leader != 2 || p.LeaderEpoch != 1 {
		t.Fatalf("partition 1 moved: %+v", p)
	}
}

// A replica listed as damaged (lacking records that may have been
// committed) never leads while a replica that may hold them is alive: the
// controller elects an eligible replica, or none; only an unclean election
// makes it leader, and then the partition records it and forgets what the
// damaged replicas lacked.
func TestElectLeadersSkipsDamagedReplicas(t *testing.T) {
	dmg := func(b int) DamagedReplica { return DamagedReplica{Broker: b, LogEndOffset: 8282, HighWatermark: 20000} }
	type part struct {
		replicas, isr []int
		leader, epoch int
		damaged       []DamagedReplica
		unclean       int // LastUncleanEpoch
	}
	progress := func(m map[int]ReplicaProgress) ProgressFunc {
		return func(_, b int) (ReplicaProgress, error) {
			pr, ok := m[b]
			if !ok {
				return pr, errors.New("unreadable")
			}
			return pr, nil
		}
	}
	whole := ReplicaProgress{HighWatermark: 20000, Committed: 20000}
	cut := ReplicaProgress{HighWatermark: 8282, Committed: 20000}
	tests := []struct {
		name      string
		unclean   bool
		preferred bool
		alive     []int
		progress  ProgressFunc
		in, want  part
		reason    string
	}{
		{"damaged leader gives way to a healthy isr member", false, false, []int{1, 2}, nil,
			part{[]int{1, 2}, []int{2}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2}, 2, 1, []DamagedReplica{dmg(1)}, 0},
			"broker 1's replica ends at offset 8282 and lacks offsets 8282 to 19999, which may have been committed"},
		{"damaged leader, healthy member down: no leader", false, false, []int{1}, nil,
			part{[]int{1, 2}, []int{2}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2}, NoLeader, 1, []DamagedReplica{dmg(1)}, 0},
			"the partition waits for one (or for unclean.leader.election.enable)"},
		{"damaged sole isr member: no leader", false, false, []int{1}, nil,
			part{[]int{1}, []int{1}, 1, 3, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1}, []int{1}, NoLeader, 4, []DamagedReplica{dmg(1)}, 0}, ""},
		{"no leader, damaged replica alone alive: still none", false, false, []int{1}, nil,
			part{[]int{1, 2}, []int{2}, NoLeader, 1, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2}, NoLeader, 1, []DamagedReplica{dmg(1)}, 0}, ""},
		{"healthy member back: elected", false, false, []int{1, 2}, nil,
			part{[]int{1, 2}, []int{2}, NoLeader, 1, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2}, 2, 2, []DamagedReplica{dmg(1)}, 0}, ""},
		{"damaged follower in the isr is skipped", false, false, []int{2, 3}, nil,
			part{[]int{1, 2, 3}, []int{1, 2, 3}, 1, 0, []DamagedReplica{dmg(2)}, 0},
			part{[]int{1, 2, 3}, []int{2, 3}, 3, 1, []DamagedReplica{dmg(2)}, 0}, ""},
		{"unclean: the damaged replica leads only when no other is alive", true, false, []int{1}, nil,
			part{[]int{1, 2}, []int{2}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{1}, 1, 1, nil, 1},
			"UNCLEAN LEADER ELECTION: broker 1's replica ends at offset 8282"},
		{"unclean: a live replica not known damaged first", true, false, []int{1, 3}, nil,
			part{[]int{1, 2, 3}, []int{2}, 1, 4, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2, 3}, []int{3}, 3, 5, nil, 5}, "by unclean.leader.election.enable broker 3 leads"},
		{"unclean with an eligible replica is clean", true, false, []int{1, 2}, nil,
			part{[]int{1, 2}, []int{2}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2}, 2, 1, []DamagedReplica{dmg(1)}, 0}, ""},
		{"damaged leader, a follower outside the isr holds every committed record: it leads", false, false, []int{1, 2},
			progress(map[int]ReplicaProgress{1: cut, 2: whole}),
			part{[]int{1, 2}, []int{1}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2}, 2, 1, []DamagedReplica{dmg(1)}, 0},
			"broker 2, outside the ISR, holds every committed record (its high watermark 20000"},
		{"a follower outside the isr short of the committed end does not", false, false, []int{1, 2},
			progress(map[int]ReplicaProgress{1: cut, 2: {HighWatermark: 19000, Committed: 19000}}),
			part{[]int{1, 2}, []int{1}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{1}, NoLeader, 1, []DamagedReplica{dmg(1)}, 0}, ""},
		{"a dead replica recorded a later commit: nobody outside the isr leads", false, false, []int{1, 2},
			progress(map[int]ReplicaProgress{1: cut, 2: whole, 3: {HighWatermark: 25000, Committed: 25000}}),
			part{[]int{1, 2, 3}, []int{3}, NoLeader, 2, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2, 3}, []int{3}, NoLeader, 2, []DamagedReplica{dmg(1)}, 0}, ""},
		{"a replica that cannot be read: nobody outside the isr leads", false, false, []int{1, 2},
			progress(map[int]ReplicaProgress{1: cut, 2: whole}),
			part{[]int{1, 2, 3}, []int{1}, 1, 0, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2, 3}, []int{1}, NoLeader, 1, []DamagedReplica{dmg(1)}, 0}, ""},
		{"preferred leader that is damaged stays a follower", false, true, []int{1, 2}, nil,
			part{[]int{1, 2}, []int{2, 1}, 2, 3, []DamagedReplica{dmg(1)}, 0},
			part{[]int{1, 2}, []int{2, 1}, 2, 3, []DamagedReplica{dmg(1)}, 0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := &Topic{Name: "t", ID: "x", Version: 1, Config: map[string]string{},
				Partitions: []Partition{{Replicas: tt.in.replicas, ISR: tt.in.isr, Leader: tt.in.leader, LeaderEpoch: tt.in.epoch, Damaged: tt.in.damaged, LastUncleanEpoch: tt.in.unclean}}}
			if tt.unclean {
				tp.Config[ConfigUncleanLeaderElection] = "true"
			}
			next, changes := elect(tp, func(id int) bool { return slices.Contains(tt.alive, id) }, tt.progress, tt.preferred)
			p := next.Partitions[0]
			got := part{p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.Damaged, p.LastUncleanEpoch}
			if !slices.Equal(got.isr, tt.want.isr) || got.leader != tt.want.leader || got.epoch != tt.want.epoch ||
				!slices.Equal(got.damaged, tt.want.damaged) || got.unclean != tt.want.unclean {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if err := checkTopic(next); err != nil {
				t.Errorf("result breaks the invariants: %v", err)
			}
			if tt.reason != "" && (len(changes) == 0 || !strings.Contains(changes[0].Reason, tt.reason)) {
				t.Errorf("changes %+v; want a reason saying %q", changes, tt.reason)
			}
			if len(changes) > 0 && changes[0].Unclean != (tt.want.unclean != tt.in.unclean) {
				t.Errorf("change %+v: unclean is %v", changes[0], changes[0].Unclean)
			}
		})
	}
}

// A replica reports itself damaged: it leaves the ISR unless it is its
// last member; the report is idempotent and never lowers what was lost.
func TestReportDamagedReplica(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2)
	tp, err := c.CreateTopic("t", 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := tp.Partitions[0]
	b := p.Replicas[0]
	d := DamagedReplica{Broker: b, LogEndOffset: 10, HighWatermark: 50}
	if changed, err := c.ReportDamagedReplica("t", "wrong id", 0, d, -1); changed || err != nil {
		t.Fatalf("report against another topic id: %v %v", changed, err)
	}
	if changed, err := c.ReportDamagedReplica("t", tp.ID, 0, d, p.LeaderEpoch+1); changed || err != nil {
		t.Fatalf("report at another leader epoch: %v %v", changed, err)
	}
	if changed, err := c.ReportDamagedReplica("t", tp.ID, 0, d, -1); !changed || err != nil {
		t.Fatalf("report: %v %v", changed, err)
	}
	got := partitionOf(t, c, "t")
	if !slices.Equal(got.Damaged, []DamagedReplica{d}) || slices.Contains(got.ISR, b) || len(got.ISR) != 1 {
		t.Fatalf("after the report: %+v", got)
	}
	lower := d
	lower.HighWatermark = 40
	if changed, err := c.ReportDamagedReplica("t", tp.ID, 0, lower, -1); changed || err != nil {
		t.Fatalf("a second, smaller report: %v %v", changed, err)
	}
	// The last ISR member stays in the ISR: it is never empty.
	other := got.ISR[0]
	if changed, err := c.ReportDamagedReplica("t", tp.ID, 0, DamagedReplica{Broker: other, LogEndOffset: 0, HighWatermark: 5}, -1); !changed || err != nil {
		t.Fatalf("report of the last ISR member: %v %v", changed, err)
	}
	if got := partitionOf(t, c, "t"); !slices.Equal(got.ISR, []int{other}) || len(got.Damaged) != 2 {
		t.Fatalf("after reporting the last ISR member: %+v", got)
	}
}
