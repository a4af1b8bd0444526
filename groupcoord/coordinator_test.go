package groupcoord

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// The state machine, in process, on a real metadata directory, with a fake
// clock: tests move time on instead of sleeping, so every timer (initial
// delay, rebalance timeout, sync wait, sessions) is exercised exactly.

type harness struct {
	t   *testing.T
	c   *coord.Cluster
	clk *fakeClock
	co  *Coordinator
}

const (
	session   = 10 * time.Second
	rebalance = 20 * time.Second
)

func newHarness(t *testing.T, initialDelay time.Duration) *harness {
	t.Helper()
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := c.CreateTopic("t", 4, 1, nil); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c, clk: newFakeClock()}
	h.co = h.coordinator(1, initialDelay)
	return h
}

// coordinator makes a coordinator of broker id that believes it runs every
// group (two of them on one directory play two brokers whose views of the
// live brokers disagree).
func (h *harness) coordinator(id int, initialDelay time.Duration) *Coordinator {
	co := New(Config{Cluster: h.c, BrokerID: id, InitialRebalanceDelay: initialDelay, clock: h.clk,
		Logf: func(f string, args ...any) { h.t.Logf("broker %d: "+f, append([]any{id}, args...)...) }})
	co.liveBrokers = func() ([]int, error) { return []int{id}, nil }
	h.t.Cleanup(co.Close)
	return co
}

func subscription(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func jreq(member string, protocols ...string) JoinRequest {
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	r := JoinRequest{Group: "g", MemberID: member, ClientID: "c", ClientHost: "/127.0.0.1",
		SessionTimeout: session, RebalanceTimeout: rebalance, ProtocolType: "consumer"}
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: subscription("t")})
	}
	return r
}

// joinAsync starts a JoinGroup and waits until the coordinator holds it
// (or answered it).
func (h *harness) joinAsync(co *Coordinator, req JoinRequest) <-chan JoinResult {
	h.t.Helper()
	before := h.parked(co, req.Group)
	ch := make(chan JoinResult, 1)
	go func() { ch <- co.Join(context.Background(), req) }()
	deadline := time.Now().Add(5 * time.Second)
	for h.parked(co, req.Group) == before && len(ch) == 0 {
		if time.Now().After(deadline) {
			h.t.Fatal("JoinGroup neither parked nor answered")
		}
		time.Sleep(time.Millisecond)
	}
	return ch
}

// parked counts the members of group waiting in JoinGroup.
func (h *harness) parked(co *Coordinator, group string) int {
	co.mu.Lock()
	g := co.groups[group]
	co.mu.Unlock()
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, m := range g.members {
		if m.awaitingJoin() {
			n++
		}
	}
	return n
}

func (h *harness) state(co *Coordinator, group string) State {
	co.mu.Lock()
	g := co.groups[group]
	co.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state
}

func answered[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	panic("unreachable")
}

func notAnswered[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("answered early: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// stable forms a stable generation of n members (the first the leader)
// and returns their ids.
func (h *harness) stable(co *Coordinator, n int) ([]string, int32) {
	h.t.Helper()
	var chans []<-chan JoinResult
	for range n {
		chans = append(chans, h.joinAsync(co, jreq("")))
	}
	h.clk.Advance(co.cfg.InitialRebalanceDelay)
	var ids []string
	var gen int32
	for _, ch := range chans {
		r := answered(h.t, ch)
		if r.Err != nil {
			h.t.Fatalf("join: %v", r.Err)
		}
		ids, gen = append(ids, r.MemberID), r.Generation
	}
	assign := map[string][]byte{}
	for _, id := range ids {
		assign[id] = []byte("a-" + id)
	}
	var syncs []chan SyncResult
	for _, id := range ids[1:] {
		ch := make(chan SyncResult, 1)
		go func() { ch <- co.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen, MemberID: id}) }()
		syncs = append(syncs, ch)
	}
	if r := co.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen, MemberID: ids[0], Assignments: assign}); r.Err != nil {
		h.t.Fatalf("leader sync: %v", r.Err)
	}
	for _, ch := range syncs {
		if r := answered(h.t, ch); r.Err != nil {
			h.t.Fatalf("follower sync: %v", r.Err)
		}
	}
	return ids, gen
}

// TestInitialDelay: a new group waits group.initial.rebalance.delay.ms for
// more members, and another delay each time one comes, within the
// rebalance timeout (Kafka's InitialDelayedJoin).
func TestInitialDelay(t *testing.T) {
	h := newHarness(t, 3*time.Second)
	a := h.joinAsync(h.co, jreq(""))
	h.clk.Advance(2 * time.Second)
	notAnswered(t, a)
	b := h.joinAsync(h.co, jreq(""))
	h.clk.Advance(time.Second) // the first delay ends: b came, so wait again
	notAnswered(t, a)
	h.clk.Advance(2900 * time.Millisecond)
	notAnswered(t, a)
	h.clk.Advance(100 * time.Millisecond)
	ra, rb := answered(t, a), answered(t, b)
	if ra.Err != nil || rb.Err != nil || ra.Generation != 1 || rb.Generation != 1 || ra.Leader != ra.MemberID || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("first generation: %+v / %+v", ra, rb)
	}
}

// TestMemberIDRequired: KIP-394: a member joining without an id gets one
// with MEMBER_ID_REQUIRED; the rebalance waits for it to come back (or for
// its session to pass).
func TestMemberIDRequired(t *testing.T) {
	h := newHarness(t, 0)
	ids, gen := h.stable(h.co, 1)
	req := jreq("")
	req.RequireKnownMemberID = true
	r := h.co.Join(context.Background(), req)
	if r.Err != kerr.MemberIDRequired || r.MemberID == "" {
		t.Fatalf("first join: %+v", r)
	}
	// The leader rejoins: the rebalance now waits for the pending member.
	a := h.joinAsync(h.co, jreq(ids[0]))
	notAnswered(t, a)
	b := h.joinAsync(h.co, jreq(r.MemberID))
	ra, rb := answered(t, a), answered(t, b)
	if ra.Generation != gen+1 || rb.Generation != gen+1 || len(ra.Members) != 2 {
		t.Fatalf("after the pending member joined: %+v / %+v", ra, rb)
	}
	go h.co.Sync(context.Background(), SyncRequest{Group: "g", Generation: rb.Generation, MemberID: rb.MemberID})
	if s := h.co.Sync(context.Background(), SyncRequest{Group: "g", Generation: ra.Generation, MemberID: ra.MemberID}); s.Err != nil {
		t.Fatal(s.Err)
	}
	// A pending member that never comes back is forgotten after its
	// session timeout, and the rebalance goes on without it.
	r = h.co.Join(context.Background(), req)
	if r.Err != kerr.MemberIDRequired {
		t.Fatalf("join: %+v", r)
	}
	a = h.joinAsync(h.co, jreq(ids[0]))
	b = h.joinAsync(h.co, jreq(rb.MemberID))
	h.clk.Advance(session - time.Millisecond)
	notAnswered(t, a)
	h.clk.Advance(time.Millisecond)
	if ra := answered(t, a); ra.Generation != gen+2 || len(ra.Members) != 2 {
		t.Fatalf("after the pending member expired: %+v", ra)
	}
	answered(t, b)
}

// TestRebalanceTimeout: members that do not rejoin within the rebalance
// timeout are removed; when the leader is one of them, a member that
// rejoined leads.
func TestRebalanceTimeout(t *testing.T) {
	h := newHarness(t, 0)
	ids, gen := h.stable(h.co, 3)
	// The follower ids[2] rejoins with other metadata: a rebalance that
	// the others (the leader among them) never join.
	b := h.joinAsync(h.co, jreq(ids[2], "roundrobin", "range"))
	wantErr(t, "heartbeat during the rebalance", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[1]}), kerr.RebalanceInProgress)
	// The others heartbeat (their sessions are shorter than the
	// rebalance timeout) but do not rejoin.
	for range 3 {
		h.clk.Advance(rebalance / 4)
		for _, id := range ids[:2] {
			wantErr(t, "heartbeat during the rebalance", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: id}), kerr.RebalanceInProgress)
		}
	}
	h.clk.Advance(rebalance/4 - time.Millisecond)
	notAnswered(t, b)
	h.clk.Advance(time.Millisecond)
	r := answered(t, b)
	if r.Err != nil || r.Generation != gen+1 || r.Leader != ids[2] || len(r.Members) != 1 || *r.Protocol != "roundrobin" {
		t.Fatalf("after the timeout: %+v (protocol %v)", r, *r.Protocol)
	}
	wantErr(t, "heartbeat of a removed member", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen + 1, MemberID: ids[0]}), kerr.UnknownMemberID)
}

// TestSyncTimeout: a member of a new generation that never sends its
// SyncGroup is removed after the rebalance timeout (KIP-814's DelayedSync),
// and the group rebalances.
func TestSyncTimeout(t *testing.T) {
	h := newHarness(t, 0)
	a, b := h.joinAsync(h.co, jreq("")), h.joinAsync(h.co, jreq(""))
	h.clk.Advance(0)
	ra, rb := answered(t, a), answered(t, b)
	leader, follower := ra, rb
	if rb.Leader == rb.MemberID {
		leader, follower = rb, ra
	}
	if r := h.co.Sync(context.Background(), SyncRequest{Group: "g", Generation: leader.Generation, MemberID: leader.MemberID, Assignments: map[string][]byte{leader.MemberID: []byte("x")}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	hb := func() *kerr.Error {
		return h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: leader.Generation, MemberID: leader.MemberID})
	}
	// The follower heartbeats (it is alive) but never syncs.
	for range 3 {
		h.clk.Advance(rebalance / 4)
		wantErr(t, "heartbeat of the stable leader", hb(), nil)
		wantErr(t, "heartbeat of the follower", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: follower.Generation, MemberID: follower.MemberID}), nil)
	}
	h.clk.Advance(rebalance / 4)
	wantErr(t, "heartbeat after the follower missed its sync", hb(), kerr.RebalanceInProgress)
	wantErr(t, "heartbeat of the follower", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: follower.Generation, MemberID: follower.MemberID}), kerr.UnknownMemberID)
}

// TestSessionTimeout: a member that stops heartbeating is removed after its
// session timeout; one that heartbeats is kept, however long.
func TestSessionTimeout(t *testing.T) {
	h := newHarness(t, 0)
	ids, gen := h.stable(h.co, 2)
	hb := func(id string) *kerr.Error {
		return h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: id})
	}
	for range 5 {
		h.clk.Advance(session / 2)
		wantErr(t, "heartbeat", hb(ids[0]), nil)
		wantErr(t, "heartbeat", hb(ids[1]), nil)
	}
	// ids[1] falls silent.
	h.clk.Advance(session / 2)
	wantErr(t, "heartbeat", hb(ids[0]), nil)
	h.clk.Advance(session/2 - time.Millisecond)
	wantErr(t, "heartbeat just before the other's session ends", hb(ids[0]), nil)
	h.clk.Advance(time.Millisecond)
	wantErr(t, "heartbeat of the silent member", hb(ids[1]), kerr.UnknownMemberID)
	wantErr(t, "heartbeat after the other's expiry", hb(ids[0]), kerr.RebalanceInProgress)
}

// TestStaticMemberRestart: a static member restarting (no member id, the
// same instance id and protocols) in a stable group gets a new id, the same
// generation and its old assignment, without a rebalance (KIP-345); the old
// id is fenced. A leader using JoinGroup v9 is told to skip the assignment.
func TestStaticMemberRestart(t *testing.T) {
	h := newHarness(t, 0)
	var chans []<-chan JoinResult
	for _, inst := range []string{"i0", "i1"} {
		req := jreq("")
		req.InstanceID = inst
		chans = append(chans, h.joinAsync(h.co, req))
	}
	h.clk.Advance(0)
	r0, r1 := answered(t, chans[0]), answered(t, chans[1])
	gen := r0.Generation
	go h.co.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen, MemberID: r1.MemberID})
	if r := h.co.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen, MemberID: r0.MemberID, InstanceID: "i0",
		Assignments: map[string][]byte{r0.MemberID: []byte("zero"), r1.MemberID: []byte("one")}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	// i1 restarts.
	req := jreq("")
	req.InstanceID = "i1"
	r := h.co.Join(context.Background(), req)
	if r.Err != nil || r.Generation != gen || r.MemberID == r1.MemberID || r.Leader != r0.MemberID || r.SkipAssignment {
		t.Fatalf("static follower restart: %+v", r)
	}
	wantErr(t, "heartbeat of the old id", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: r1.MemberID, InstanceID: "i1"}), kerr.FencedInstanceID)
	if s := h.co.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen, MemberID: r.MemberID, InstanceID: "i1"}); s.Err != nil || string(s.Assignment) != "one" {
		t.Fatalf("sync of the restarted member: %+v", s)
	}
	// The leader restarts with v9: it leads, without assigning.
	req.InstanceID, req.SupportSkipAssignment = "i0", true
	r = h.co.Join(context.Background(), req)
	if r.Err != nil || r.Generation != gen || r.Leader != r.MemberID || !r.SkipAssignment || len(r.Members) != 2 {
		t.Fatalf("static leader restart: %+v", r)
	}
	if h.state(h.co, "g") != Stable {
		t.Fatalf("state %v after static restarts", h.state(h.co, "g"))
	}
	// Removed by instance id (an administrator's LeaveGroup): a rebalance.
	top, errs := h.co.Leave("g", []LeaveMember{{InstanceID: "i1"}, {InstanceID: "nosuch"}})
	if top != nil || errs[0] != nil || errs[1] != kerr.UnknownMemberID {
		t.Fatalf("leave by instance id: %v %v", top, errs)
	}
	if h.state(h.co, "g") != PreparingRebalance {
		t.Fatalf("state %v after a static member was removed", h.state(h.co, "g"))
	}
}

// TestProtocolChoice: among the protocols every member supports, each
// member votes for its most preferred; the most votes win.
func TestProtocolChoice(t *testing.T) {
	h := newHarness(t, 0)
	a := h.joinAsync(h.co, jreq("", "range", "roundrobin", "sticky"))
	b := h.joinAsync(h.co, jreq("", "sticky", "roundrobin"))
	c := h.joinAsync(h.co, jreq("", "roundrobin", "sticky"))
	h.clk.Advance(0)
	for _, ch := range []<-chan JoinResult{a, b, c} {
		// Candidates: roundrobin and sticky; votes: sticky 1 (b),
		// roundrobin 2 (a, c).
		if r := answered(t, ch); *r.Protocol != "roundrobin" {
			t.Fatalf("protocol %q", *r.Protocol)
		}
	}
	r := h.co.Join(context.Background(), jreq("", "range"))
	wantErr(t, "join with a protocol one member lacks", r.Err, kerr.InconsistentGroupProtocol)
}

// TestCommitRules: Kafka's rules for OffsetCommit in each state.
func TestCommitRules(t *testing.T) {
	h := newHarness(t, 0)
	tp := coord.TopicPartition{Topic: "t", Partition: 0}
	commit := func(gen int32, member string, off int64) *kerr.Error {
		return h.co.Commit(CommitRequest{Group: "g", Generation: gen, MemberID: member, Offsets: map[coord.TopicPartition]coord.KafkaOffset{tp: {Offset: off, LeaderEpoch: -1}}})[tp]
	}
	wantErr(t, "commit of a generation of no group", commit(1, "m", 1), kerr.IllegalGeneration)
	wantErr(t, "simple commit to no group", commit(-1, "", 1), nil)
	ids, gen := h.stable(h.co, 2)
	wantErr(t, "simple commit to a group with members", commit(-1, "", 2), kerr.UnknownMemberID)
	wantErr(t, "member's commit", commit(gen, ids[1], 3), nil)
	// A rebalance starts: commits of the generation still go through.
	a := h.joinAsync(h.co, jreq(ids[0]))
	wantErr(t, "commit while preparing a rebalance", commit(gen, ids[1], 4), nil)
	b := h.joinAsync(h.co, jreq(ids[1]))
	answered(t, a)
	answered(t, b)
	wantErr(t, "commit of the old generation", commit(gen, ids[1], 5), kerr.IllegalGeneration)
	wantErr(t, "commit before the new assignment", commit(gen+1, ids[1], 5), kerr.RebalanceInProgress)
	offs, err := h.co.FetchOffsets("g", map[string][]int32{"t": {0, 1}})
	if err != nil || offs[0].Offset != 4 || offs[1].Offset != -1 {
		t.Fatalf("fetch: %+v %v", offs, err)
	}
}

// TestFencedCoordinator: a second coordinator takes the group over (its
// view of the live brokers differs) while the first has a rebalance under
// way; the first one's next write fails, it gives the group up and answers
// its parked member NOT_COORDINATOR, without touching the file.
func TestFencedCoordinator(t *testing.T) {
	h := newHarness(t, 0)
	ids, gen := h.stable(h.co, 2)
	a := h.joinAsync(h.co, jreq(ids[0])) // the leader rejoins: a rebalance
	other := h.coordinator(2, 0)
	wantErr(t, "heartbeat at the new coordinator", other.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[1]}), nil)
	before, err := h.c.Group("g")
	if err != nil || before.Kafka.Coordinator != 2 {
		t.Fatalf("file after the takeover: %+v %v", before.Kafka, err)
	}
	// The rebalance timeout ends the old coordinator's join phase: it
	// would write generation gen+1, and cannot.
	for range 4 {
		h.clk.Advance(rebalance / 4)
		wantErr(t, "heartbeat at the new coordinator", other.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[0]}), nil)
		wantErr(t, "heartbeat at the new coordinator", other.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[1]}), nil)
	}
	wantErr(t, "the old coordinator's join", answered(t, a).Err, kerr.NotCoordinator)
	after, err := h.c.Group("g")
	if err != nil || after.Kafka.Coordinator != 2 || after.Generation != int64(gen) || after.Kafka.CoordinatorEpoch != before.Kafka.CoordinatorEpoch {
		t.Fatalf("file after the old coordinator's attempt: generation %d, %+v %v", after.Generation, after.Kafka, err)
	}
	// The members go on at the new coordinator.
	a, b := h.joinAsync(other, jreq(ids[0])), h.joinAsync(other, jreq(ids[1]))
	if ra := answered(t, a); ra.Err != nil || ra.Generation != gen+1 {
		t.Fatalf("join at the new coordinator: %+v", ra)
	}
	answered(t, b)
}

// TestStaleCoordinatorRereads: a coordinator whose group was written by
// another (it was stopped meanwhile) does not answer from what it holds:
// it sees the file changed and reads it again.
func TestStaleCoordinatorRereads(t *testing.T) {
	h := newHarness(t, 0)
	ids, gen := h.stable(h.co, 2)
	other := h.coordinator(2, 0)
	a, b := h.joinAsync(other, jreq(ids[0])), h.joinAsync(other, jreq(ids[1]))
	ra, rb := answered(t, a), answered(t, b)
	if ra.Generation != gen+1 || rb.Generation != gen+1 {
		t.Fatalf("rebalance at the other coordinator: %+v %+v", ra, rb)
	}
	go other.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen + 1, MemberID: ids[1]})
	if r := other.Sync(context.Background(), SyncRequest{Group: "g", Generation: gen + 1, MemberID: ids[0]}); r.Err != nil {
		t.Fatal(r.Err)
	}
	// The first coordinator still holds generation gen in memory.
	wantErr(t, "heartbeat of the new generation at the first coordinator", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen + 1, MemberID: ids[1]}), nil)
	wantErr(t, "heartbeat of the old generation at the first coordinator", h.co.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen, MemberID: ids[1]}), kerr.IllegalGeneration)
}

// TestTakeOverMidRebalance: a group whose file says it was rebalancing is
// taken over as rebalancing: members are told to join again, and the
// generation goes on from the file's.
func TestTakeOverMidRebalance(t *testing.T) {
	h := newHarness(t, 0)
	ids, gen := h.stable(h.co, 2)
	a := h.joinAsync(h.co, jreq(ids[0]))
	b := h.joinAsync(h.co, jreq(ids[1]))
	answered(t, a)
	answered(t, b) // generation gen+1 written, CompletingRebalance
	h.co.Close()
	other := h.coordinator(2, 0)
	wantErr(t, "heartbeat at the successor", other.Heartbeat(HeartbeatRequest{Group: "g", Generation: gen + 1, MemberID: ids[1]}), kerr.RebalanceInProgress)
	a, b = h.joinAsync(other, jreq(ids[0])), h.joinAsync(other, jreq(ids[1]))
	if ra := answered(t, a); ra.Err != nil || ra.Generation != gen+2 {
		t.Fatalf("join at the successor: %+v", ra)
	}
	answered(t, b)
}
