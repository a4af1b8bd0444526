package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Tests of the group coordinator through raw Kafka requests (kmsg) against
// real broker processes: every answer is checked against what Kafka's
// GroupCoordinator answers.

// send sends req to broker id once (no retries: the test reads the error
// codes a client would see) and returns the response.
func send[R kmsg.Response](t testing.TB, cl *kgo.Client, id int32, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("%s to broker %d: %v", kmsg.NameForKey(req.Key()), id, err)
	}
	return resp.(R)
}

// member is one raw group member: a client of its own (a parked JoinGroup
// holds its connection, as in Kafka) and what the coordinator told it.
type rawMember struct {
	t          testing.TB
	cl         *kgo.Client
	coord      int32
	group      string
	id         string
	generation int32
	leader     string
	members    []kmsg.JoinGroupResponseMember
	protocol   string
}

func newRawMember(t testing.TB, k *kafkaCluster, group string) *rawMember {
	t.Helper()
	cl := k.client(kgo.ClientID("raw"))
	m := &rawMember{t: t, cl: cl, group: group}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = group
	fc.SetVersion(3)
	resp, err := fc.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("find coordinator of %s: %v %v", group, err, resp)
	}
	m.coord = resp.NodeID
	return m
}

func joinReq(group, member string, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group = group
	req.MemberID = member
	req.SessionTimeoutMillis = 30000
	req.RebalanceTimeoutMillis = 30000
	req.ProtocolType = "consumer"
	for _, p := range protocols {
		rp := kmsg.NewJoinGroupRequestProtocol()
		rp.Name = p
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"t"}
		rp.Metadata = meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, rp)
	}
	return req
}

// join joins (twice when told MEMBER_ID_REQUIRED) and records the
// generation it gets.
func (m *rawMember) join(protocols ...string) *kmsg.JoinGroupResponse {
	m.t.Helper()
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for {
		resp := send[*kmsg.JoinGroupResponse](m.t, m.cl, m.coord, joinReq(m.group, m.id, protocols...))
		if resp.ErrorCode == kerr.MemberIDRequired.Code && m.id == "" {
			m.id = resp.MemberID
			continue
		}
		if resp.ErrorCode != 0 {
			m.t.Fatalf("join %s as %q: %v", m.group, m.id, kerr.ErrorForCode(resp.ErrorCode))
		}
		m.id, m.generation, m.leader, m.members = resp.MemberID, resp.Generation, resp.LeaderID, resp.Members
		m.protocol = *resp.Protocol
		return resp
	}
}

func (m *rawMember) syncReq(assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID = m.group, m.generation, m.id
	pt, p := "consumer", m.protocol
	req.ProtocolType, req.Protocol = &pt, &p
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return req
}

func (m *rawMember) sync(assign map[string][]byte) *kmsg.SyncGroupResponse {
	m.t.Helper()
	return send[*kmsg.SyncGroupResponse](m.t, m.cl, m.coord, m.syncReq(assign))
}

func (m *rawMember) heartbeat() int16 {
	m.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID = m.group, m.generation, m.id
	return send[*kmsg.HeartbeatResponse](m.t, m.cl, m.coord, req).ErrorCode
}

func (m *rawMember) commit(generation int32, member string, topic string, partition int32, offset int64) int16 {
	m.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = m.group, generation, member
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.OffsetCommitResponse](m.t, m.cl, m.coord, req)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (m *rawMember) fetchOffset(topic string, partition int32) (int64, int16) {
	m.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest() // kgo sends it at v8: groups
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = m.group
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	rg.Topics = append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := send[*kmsg.OffsetFetchResponse](m.t, m.cl, m.coord, req)
	if g := resp.Groups[0]; g.ErrorCode != 0 {
		return -1, g.ErrorCode
	}
	p := resp.Groups[0].Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

func (m *rawMember) leave() int16 {
	m.t.Helper()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = m.group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = m.id
	req.Members = append(req.Members, lm)
	resp := send[*kmsg.LeaveGroupResponse](m.t, m.cl, m.coord, req)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Members[0].ErrorCode
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	w := int16(0)
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(w))
	}
}

// groupFile reads the group's group.json.
func groupFile(t testing.TB, k *kafkaCluster, group string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(k.dir, "meta", "groups", group, "group.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKafkaGroupProtocol walks two raw members through Kafka's classic
// protocol: KIP-394's member id, a generation, the leader's assignment
// handed to a follower that sent its own, heartbeats told of a rebalance,
// generation checks on commits, a leave that rebalances at once.
func TestKafkaGroupProtocol(t *testing.T) {
	k := startKafkaCluster(t, 1, "--group-initial-rebalance-delay", "0s")
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "1")

	a := newRawMember(t, k, "g1")
	resp := a.join("range")
	if a.generation != 1 || a.leader != a.id || len(resp.Members) != 1 || a.protocol != "range" {
		t.Fatalf("first join: %+v", resp)
	}
	if !strings.HasPrefix(a.id, "raw-") {
		t.Fatalf("member id %q is not client id, dash, uuid", a.id)
	}
	sr := a.sync(map[string][]byte{a.id: []byte("all of it")})
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "all of it" {
		t.Fatalf("leader sync: %s %q", errName(sr.ErrorCode), sr.MemberAssignment)
	}
	wantCode(t, "heartbeat", a.heartbeat(), nil)
	wantCode(t, "commit", a.commit(a.generation, a.id, "t", 0, 42), nil)
	wantCode(t, "commit of a wrong generation", a.commit(a.generation+5, a.id, "t", 0, 43), kerr.IllegalGeneration)
	wantCode(t, "commit of an unknown member", a.commit(a.generation, "nobody", "t", 0, 43), kerr.UnknownMemberID)
	wantCode(t, "commit without generation to a group with members", a.commit(-1, "", "t", 0, 43), kerr.UnknownMemberID)
	wantCode(t, "commit of an unknown partition", a.commit(a.generation, a.id, "t", 9, 43), kerr.UnknownTopicOrPartition)
	if off, code := a.fetchOffset("t", 0); off != 42 || code != 0 {
		t.Fatalf("fetch: %d %s", off, errName(code))
	}
	if off, code := a.fetchOffset("t", 1); off != -1 || code != 0 {
		t.Fatalf("fetch of a partition without a commit: %d %s", off, errName(code))
	}
	kg := groupFile(t, k, "g1")["kafka"].(map[string]any)
	if kg["state"] != "Stable" || kg["protocol"] != "range" || len(kg["members"].([]any)) != 1 {
		t.Fatalf("group.json: %v", kg)
	}

	// A second member: the first learns of the rebalance by its heartbeat
	// and rejoins; both get generation 2, the leader every member.
	b := newRawMember(t, k, "g1")
	var rb *kmsg.JoinGroupResponse
	joined := background(func() { rb = b.join("roundrobin", "range") })
	waitCode(t, "heartbeat during the rebalance", a.heartbeat, kerr.RebalanceInProgress)
	ra := a.join("range")
	await(t, joined)
	if ra.Generation != 2 || rb.Generation != 2 || ra.LeaderID != a.id || rb.LeaderID != a.id || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("second generation: leader %+v, follower %+v", ra, rb)
	}
	if *ra.Protocol != "range" {
		t.Fatalf("protocol %q: both support range, and range has the most votes", *ra.Protocol)
	}
	// The follower syncs first, with an assignment of its own: it waits,
	// and gets what the leader gives it.
	var r *kmsg.SyncGroupResponse
	synced := background(func() { r = b.sync(map[string][]byte{b.id: []byte("everything, says b")}) })
	waitCode(t, "heartbeat before the leader's sync", a.heartbeat, nil)
	wantCode(t, "commit before the assignment", a.commit(a.generation, a.id, "t", 0, 44), kerr.RebalanceInProgress)
	if r := a.sync(map[string][]byte{a.id: []byte("p0"), b.id: []byte("p1")}); r.ErrorCode != 0 || string(r.MemberAssignment) != "p0" {
		t.Fatalf("leader sync: %s %q", errName(r.ErrorCode), r.MemberAssignment)
	}
	if await(t, synced); r.ErrorCode != 0 || string(r.MemberAssignment) != "p1" {
		t.Fatalf("follower sync: %s %q (the leader's assignment, not its own)", errName(r.ErrorCode), r.MemberAssignment)
	}
	wantCode(t, "commit of the old generation", a.commit(1, a.id, "t", 0, 45), kerr.IllegalGeneration)
	wantCode(t, "commit", b.commit(b.generation, b.id, "t", 1, 7), nil)
	// What the coordinator holds is what the members sent, many requests
	// on their connections ago (kmsg's bytes alias a connection's buffer,
	// which the next request reuses).
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups = []string{"g1"}
	dg := send[*kmsg.DescribeGroupsResponse](t, a.cl, a.coord, d).Groups[0]
	if dg.State != "Stable" || len(dg.Members) != 2 {
		t.Fatalf("describe: %+v", dg)
	}
	for _, m := range dg.Members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.ProtocolMetadata); err != nil || !slices.Equal(meta.Topics, []string{"t"}) {
			t.Fatalf("member %s's metadata %q: %v %v", m.MemberID, m.ProtocolMetadata, meta.Topics, err)
		}
		if want := map[string]string{a.id: "p0", b.id: "p1"}[m.MemberID]; string(m.MemberAssignment) != want {
			t.Fatalf("member %s's assignment %q, want %q", m.MemberID, m.MemberAssignment, want)
		}
	}

	// b leaves: a is told at its next heartbeat, without any timeout.
	wantCode(t, "leave", b.leave(), nil)
	wantCode(t, "heartbeat after a leave", a.heartbeat(), kerr.RebalanceInProgress)
	a.join("range")
	if a.generation != 3 || len(a.members) != 1 {
		t.Fatalf("after the leave: generation %d, members %d", a.generation, len(a.members))
	}
	wantCode(t, "heartbeat of the member that left", b.heartbeat(), kerr.UnknownMemberID)
	wantCode(t, "leave again", b.leave(), kerr.UnknownMemberID)
}

// background runs f, which may fail the test, in a goroutine (a member
// parked in a JoinGroup or SyncGroup); await waits for it, and stops the
// test if it failed.
func background(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

func await(t testing.TB, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("a parked request was never answered")
	}
	if t.Failed() {
		t.FailNow()
	}
}

// waitCode retries f until it answers want (a member learns of a
// rebalance only once the other's request reached the coordinator).
func waitCode(t testing.TB, what string, f func() int16, want *kerr.Error) {
	t.Helper()
	w := int16(0)
	if want != nil {
		w = want.Code
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f()
		if got == w {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s, want %s", what, errName(got), errName(w))
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// TestKafkaGroupBadInput: requests Kafka refuses get Kafka's error codes,
// and the coordinator goes on serving the group.
func TestKafkaGroupBadInput(t *testing.T) {
	k := startKafkaCluster(t, 1, "--group-initial-rebalance-delay", "0s")
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "1")
	a := newRawMember(t, k, "g")
	a.join()
	cl := a.cl

	// JoinGroup with no protocols, or no protocol type.
	req := joinReq("g", "")
	resp := send[*kmsg.JoinGroupResponse](t, cl, a.coord, req)
	wantCode(t, "join without protocols", resp.ErrorCode, kerr.InconsistentGroupProtocol)
	req = joinReq("fresh", "", "range")
	req.ProtocolType = ""
	wantCode(t, "join without a protocol type", send[*kmsg.JoinGroupResponse](t, cl, a.coord, req).ErrorCode, kerr.InconsistentGroupProtocol)
	// A protocol no member supports, another protocol type.
	wantCode(t, "join with a protocol the group does not support", send[*kmsg.JoinGroupResponse](t, cl, a.coord, joinReq("g", "", "roundrobin")).ErrorCode, kerr.InconsistentGroupProtocol)
	req = joinReq("g", "", "range")
	req.ProtocolType = "connect"
	wantCode(t, "join with another protocol type", send[*kmsg.JoinGroupResponse](t, cl, a.coord, req).ErrorCode, kerr.InconsistentGroupProtocol)
	// Session timeouts outside the broker's bounds.
	req = joinReq("g", "", "range")
	req.SessionTimeoutMillis = 10
	wantCode(t, "join with a 10ms session", send[*kmsg.JoinGroupResponse](t, cl, a.coord, req).ErrorCode, kerr.InvalidSessionTimeout)
	// Group ids: empty, and one mk cannot name a directory after.
	wantCode(t, "join of an empty group id", send[*kmsg.JoinGroupResponse](t, cl, a.coord, joinReq("", "", "range")).ErrorCode, kerr.InvalidGroupID)
	long := strings.Repeat("g", 250)
	wantCode(t, "join of a 250-character group id", send[*kmsg.JoinGroupResponse](t, cl, a.coord, joinReq(long, "", "range")).ErrorCode, kerr.InvalidGroupID)
	// A known member id in a group that does not exist.
	wantCode(t, "join naming a member of no group", send[*kmsg.JoinGroupResponse](t, cl, a.coord, joinReq("nosuch", "raw-1", "range")).ErrorCode, kerr.UnknownMemberID)

	// SyncGroup: from a non-member, of a wrong generation, without the
	// v5 protocol fields, naming another protocol.
	s := a.syncReq(nil)
	s.MemberID = "nobody"
	wantCode(t, "sync of a non-member", send[*kmsg.SyncGroupResponse](t, cl, a.coord, s).ErrorCode, kerr.UnknownMemberID)
	s = a.syncReq(nil)
	s.Generation = 7
	wantCode(t, "sync of a wrong generation", send[*kmsg.SyncGroupResponse](t, cl, a.coord, s).ErrorCode, kerr.IllegalGeneration)
	s = a.syncReq(nil)
	s.Protocol = nil
	wantCode(t, "sync without a protocol name (v5)", send[*kmsg.SyncGroupResponse](t, cl, a.coord, s).ErrorCode, kerr.InconsistentGroupProtocol)
	s = a.syncReq(nil)
	other := "roundrobin"
	s.Protocol = &other
	wantCode(t, "sync naming another protocol", send[*kmsg.SyncGroupResponse](t, cl, a.coord, s).ErrorCode, kerr.InconsistentGroupProtocol)

	// Heartbeats: an unknown group, an unknown member, a wrong generation.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "nosuch", "raw-1", 1
	wantCode(t, "heartbeat of an unknown group", send[*kmsg.HeartbeatResponse](t, cl, a.coord, hb).ErrorCode, kerr.UnknownMemberID)
	hb.Group = "g"
	wantCode(t, "heartbeat of an unknown member", send[*kmsg.HeartbeatResponse](t, cl, a.coord, hb).ErrorCode, kerr.UnknownMemberID)
	hb.MemberID, hb.Generation = a.id, a.generation+1
	wantCode(t, "heartbeat of a wrong generation", send[*kmsg.HeartbeatResponse](t, cl, a.coord, hb).ErrorCode, kerr.IllegalGeneration)
	hb.Group = long
	wantCode(t, "heartbeat of a 250-character group id", send[*kmsg.HeartbeatResponse](t, cl, a.coord, hb).ErrorCode, kerr.InvalidGroupID)

	// Commits: a wrong generation, a group that does not exist with a
	// generation, metadata over offset.metadata.max.bytes.
	wantCode(t, "commit of a wrong generation", a.commit(a.generation-1, a.id, "t", 0, 1), kerr.IllegalGeneration)
	b := &rawMember{t: t, cl: cl, coord: a.coord, group: "nosuch"}
	wantCode(t, "commit of a generation of a group that does not exist", b.commit(3, "raw-1", "t", 0, 1), kerr.IllegalGeneration)
	wantCode(t, "commit to a 250-character group id", (&rawMember{t: t, cl: cl, coord: a.coord, group: long}).commit(-1, "", "t", 0, 1), kerr.InvalidGroupID)
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation, oc.MemberID = "g", a.generation, a.id
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "t"
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	md := strings.Repeat("m", 4097)
	op.Metadata = &md
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	wantCode(t, "commit with 4097 bytes of metadata", send[*kmsg.OffsetCommitResponse](t, cl, a.coord, oc).Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)

	// A LeaveGroup of a member that is not one; DeleteGroups of a group
	// with a member, of one that does not exist.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Group = "g"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "nobody"
	lv.Members = append(lv.Members, lm)
	lr := send[*kmsg.LeaveGroupResponse](t, cl, a.coord, lv)
	wantCode(t, "leave of a non-member", lr.Members[0].ErrorCode, kerr.UnknownMemberID)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g", "nosuch"}
	dr := send[*kmsg.DeleteGroupsResponse](t, cl, a.coord, dg)
	wantCode(t, "delete of a group with a member", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete of a group that does not exist", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)

	// The coordinator goes on: the member heartbeats and commits, a new
	// member joins.
	wantCode(t, "heartbeat after the bad input", a.heartbeat(), nil)
	a.sync(map[string][]byte{a.id: []byte("x")})
	wantCode(t, "commit after the bad input", a.commit(a.generation, a.id, "t", 1, 9), nil)
	c := newRawMember(t, k, "other")
	c.join()
	if c.generation != 1 {
		t.Fatalf("new group's generation %d", c.generation)
	}
}

// TestKafkaGroupNotCoordinator: each group has one coordinator; the other
// brokers answer NOT_COORDINATOR, and FindCoordinator names the same broker
// whichever broker is asked, for one key or several (v4+).
func TestKafkaGroupNotCoordinator(t *testing.T) {
	k := startKafkaCluster(t, 3)
	cl := k.client()
	coordinators := map[int32]bool{}
	for _, g := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		var want int32 = -1
		for id := int32(1); id <= 3; id++ {
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorKeys = []string{g}
			resp := send[*kmsg.FindCoordinatorResponse](t, cl, id, fc)
			c := resp.Coordinators[0]
			if c.ErrorCode != 0 || c.Key != g {
				t.Fatalf("find coordinator of %s at broker %d: %+v", g, id, c)
			}
			if want == -1 {
				want = c.NodeID
			} else if c.NodeID != want {
				t.Fatalf("group %s: broker %d names coordinator %d, another named %d", g, id, c.NodeID, want)
			}
		}
		coordinators[want] = true
		for id := int32(1); id <= 3; id++ {
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Group, hb.MemberID = g, "m"
			want2 := kerr.UnknownMemberID
			if id != want {
				want2 = kerr.NotCoordinator
			}
			wantCode(t, "heartbeat of "+g+" at broker "+strconv.Itoa(int(id)), send[*kmsg.HeartbeatResponse](t, cl, id, hb).ErrorCode, want2)
		}
	}
	if len(coordinators) < 2 {
		t.Fatalf("8 groups all coordinated by %v: the choice does not spread", coordinators)
	}
	// Several keys at once; a transaction coordinator mk does not have.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"a", "b", "c"}
	resp := send[*kmsg.FindCoordinatorResponse](t, cl, 1, fc)
	if len(resp.Coordinators) != 3 {
		t.Fatalf("batched find coordinator: %+v", resp)
	}
	fc.CoordinatorType = 1
	resp = send[*kmsg.FindCoordinatorResponse](t, cl, 1, fc)
	wantCode(t, "find a transaction coordinator", resp.Coordinators[0].ErrorCode, kerr.TransactionalIDAuthorizationFailed)
}

// TestKafkaGroupSessionTimeout: a member that stops heartbeating (without
// a LeaveGroup) is removed after its session timeout, and the others
// rebalance; static members are removed the same way.
func TestKafkaGroupSessionTimeout(t *testing.T) {
	k := startKafkaCluster(t, 1, "--group-initial-rebalance-delay", "0s", "--group-min-session-timeout", "500ms")
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "1")
	a, b := newRawMember(t, k, "g"), newRawMember(t, k, "g")
	a.join()
	joined := background(func() { b.join() }) // 30 s session
	waitCode(t, "heartbeat while b joins", a.heartbeat, kerr.RebalanceInProgress)
	a.join()
	await(t, joined)
	a.sync(map[string][]byte{a.id: []byte("0"), b.id: []byte("1")})
	b.sync(nil)

	// c joins with a 1 s session and then says nothing more.
	c := newRawMember(t, k, "g")
	cj := joinReq("g", "", "range")
	cj.SessionTimeoutMillis = 1000
	cj.InstanceID = kmsg.StringPtr("static-c")
	var r *kmsg.JoinGroupResponse
	cdone := background(func() { r = send[*kmsg.JoinGroupResponse](t, c.cl, c.coord, cj) })
	waitCode(t, "a's heartbeat while c joins", a.heartbeat, kerr.RebalanceInProgress)
	waitCode(t, "b's heartbeat while c joins", b.heartbeat, kerr.RebalanceInProgress)
	// c's session starts when the generation does, at the last of these
	// two joins: start is taken before either is sent, so that c's
	// removal is at least its session timeout after it (taken after the
	// joins and a's sync, it would lag the session's start by their round
	// trips, which a loaded machine stretches past any margin).
	start := time.Now()
	joined = background(func() { b.join() })
	a.join()
	await(t, joined)
	if await(t, cdone); r.ErrorCode != 0 || r.Generation != a.generation {
		t.Fatalf("static c: %s generation %d", errName(r.ErrorCode), r.Generation)
	}
	if len(a.members) != 3 {
		t.Fatalf("leader sees %d members", len(a.members))
	}
	a.sync(nil)
	waitCode(t, "a's heartbeat once c's session expired", func() int16 {
		b.heartbeat()
		return a.heartbeat()
	}, kerr.RebalanceInProgress)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("c was removed %v after its generation started, before its 1 s session timeout", d)
	}
	joined = background(func() { b.join() })
	a.join()
	await(t, joined)
	if len(a.members) != 2 {
		t.Fatalf("after c's expiry the leader sees %d members", len(a.members))
	}
	out := k.mk("describe", "group", "g", "--members")
	if strings.Contains(out, "static-c") || !strings.Contains(out, a.id) {
		t.Fatalf("describe group after the expiry:\n%s", out)
	}
}

// TestKafkaGroupCoordinatorFailover: the coordinator broker is SIGKILLed;
// another broker is the group's coordinator at once, takes the group over
// from its file, and the members go on in their generation without a
// rebalance: heartbeats and commits are accepted, committed offsets are
// all there. When the broker comes back the group moves back to it, the
// same way.
func TestKafkaGroupCoordinatorFailover(t *testing.T) {
	k := startKafkaCluster(t, 3, "--group-initial-rebalance-delay", "0s")
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "3")
	a, b := newRawMember(t, k, "g"), newRawMember(t, k, "g")
	a.join()
	joined := background(func() { b.join() })
	waitCode(t, "heartbeat while b joins", a.heartbeat, kerr.RebalanceInProgress)
	a.join()
	await(t, joined)
	synced := background(func() { b.sync(nil) })
	a.sync(map[string][]byte{a.id: []byte("0"), b.id: []byte("1")})
	await(t, synced)
	wantCode(t, "commit", a.commit(a.generation, a.id, "t", 0, 100), nil)
	wantCode(t, "commit", b.commit(b.generation, b.id, "t", 1, 200), nil)
	old := a.coord
	generation := a.generation

	k.kill(int(old))
	find := func(m *rawMember) {
		t.Helper()
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKeys = []string{m.group}
		for id := int32(1); id <= 3; id++ {
			if k.procs[int(id)] == nil {
				continue
			}
			c := send[*kmsg.FindCoordinatorResponse](t, m.cl, id, fc).Coordinators[0]
			if c.ErrorCode != 0 {
				t.Fatalf("find coordinator: %s", errName(c.ErrorCode))
			}
			m.coord = c.NodeID
			return
		}
	}
	find(a)
	find(b)
	if a.coord == old || b.coord != a.coord {
		t.Fatalf("coordinator after broker %d died: %d and %d", old, a.coord, b.coord)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for id := 1; id <= 3; id++ {
				log, _ := os.ReadFile(filepath.Join(filepath.Dir(k.dir), "broker"+strconv.Itoa(id)+".log"))
				t.Logf("broker %d:\n%s", id, log)
			}
		}
	})
	wantCode(t, "heartbeat at the new coordinator", a.heartbeat(), nil)
	wantCode(t, "heartbeat at the new coordinator", b.heartbeat(), nil)
	if off, _ := a.fetchOffset("t", 1); off != 200 {
		t.Fatalf("offset of t-1 at the new coordinator: %d", off)
	}
	wantCode(t, "commit at the new coordinator", a.commit(generation, a.id, "t", 0, 101), nil)
	if r := a.sync(nil); r.ErrorCode != 0 || string(r.MemberAssignment) != "0" {
		t.Fatalf("sync at the new coordinator: %s %q (the assignment, from the file)", errName(r.ErrorCode), r.MemberAssignment)
	}
	kg := groupFile(t, k, "g")["kafka"].(map[string]any)
	if int32(kg["coordinator"].(float64)) != a.coord || kg["coordinator_epoch"].(float64) < 2 {
		t.Fatalf("group.json after the takeover: coordinator %v epoch %v", kg["coordinator"], kg["coordinator_epoch"])
	}

	// The broker comes back (at another port: new clients): the group
	// ranks it first again.
	k.start(int(old))
	k.waitAddress(int(old))
	a.cl, b.cl = k.client(), k.client()
	deadline := time.Now().Add(10 * time.Second)
	for find(a); a.coord != old; find(a) {
		if time.Now().After(deadline) {
			t.Fatalf("the group did not move back to broker %d", old)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
	b.coord = old
	waitCode(t, "heartbeat at the restarted coordinator", a.heartbeat, nil)
	wantCode(t, "heartbeat at the restarted coordinator", b.heartbeat(), nil)
	if a.generation != generation {
		t.Fatalf("generation moved from %d to %d without a rebalance", generation, a.generation)
	}
	if off, _ := a.fetchOffset("t", 0); off != 101 {
		t.Fatalf("offset of t-0 after moving back: %d", off)
	}
}

// mkFails runs an mk command that must fail and returns its stderr.
func (k *kafkaCluster) mkFails(args ...string) string {
	k.t.Helper()
	cmd := exec.Command("mk", append([]string{"--dir", k.dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err == nil {
		k.t.Fatalf("mk %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return stderr.String()
}

// TestKafkaGroupKind: a group is of one kind. While Kafka clients are its
// members, mk's own consumers cannot join it and mk's group commands
// refuse to reset or delete it; while mk's own consumers are, Kafka clients
// get INCONSISTENT_GROUP_PROTOCOL. Both kinds keep offsets in the same
// files: Kafka clients read the offsets mk's consumers committed, and mk
// describes the Kafka group with its members' client ids and hosts.
func TestKafkaGroupKind(t *testing.T) {
	k := startKafkaCluster(t, 1, "--group-initial-rebalance-delay", "0s")
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "1")

	// mk's own consumer holds group "native".
	cmd := exec.Command("mk", "--dir", k.dir, "consume", "t", "--group", "native", "--client-id", "mkc")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for out, _ := exec.Command("mk", "--dir", k.dir, "describe", "group", "native", "--members").Output(); !strings.Contains(string(out), "mkc"); out, _ = exec.Command("mk", "--dir", k.dir, "describe", "group", "native", "--members").Output() {
		if time.Now().After(deadline) {
			t.Fatal("mk's consumer did not join")
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
	n := newRawMember(t, k, "native")
	r := send[*kmsg.JoinGroupResponse](t, n.cl, n.coord, joinReq("native", "", "range"))
	wantCode(t, "a Kafka client joining mk's group", r.ErrorCode, kerr.InconsistentGroupProtocol)
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Groups = []string{"native"}
	dg := send[*kmsg.DescribeGroupsResponse](t, n.cl, n.coord, d).Groups[0]
	if dg.ErrorCode != 0 || dg.ProtocolType != "mk" || len(dg.Members) != 1 || dg.Members[0].ClientID != "mkc" {
		t.Fatalf("describe of mk's group over the wire: %+v", dg)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	// mk's consumer committed on its way out; its offsets are the group's.
	k.mk("group", "reset-offsets", "native", "--topic", "t", "--to-offset", "0", "--execute")
	if off, code := n.fetchOffset("t", 1); off != 0 || code != 0 {
		t.Fatalf("Kafka client's fetch of the offset mk set: %d %s", off, errName(code))
	}
	// Gone, the mk consumer leaves the group to Kafka clients.
	n.join()

	// A Kafka client holds group "kafka", and commits 3 of t-0's 5
	// records.
	produce := exec.Command("mk", "--dir", k.dir, "produce", "t", "--partition", "0")
	produce.Stdin = strings.NewReader("r0\nr1\nr2\nr3\nr4\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("mk produce: %v\n%s", err, out)
	}
	a := newRawMember(t, k, "kafka")
	a.join()
	a.sync(map[string][]byte{a.id: consumerAssignment("t", 0, 1)})
	wantCode(t, "commit", a.commit(a.generation, a.id, "t", 0, 3), nil)
	if e := k.mkFails("consume", "t", "--group", "kafka", "-e"); !strings.Contains(e, "group kafka is a Kafka consumer group") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Fatalf("mk consume into a Kafka group: %q", e)
	}
	if e := k.mkFails("group", "reset-offsets", "kafka", "--topic", "t", "--to-earliest", "--execute"); !strings.Contains(e, "has 1 Kafka member(s) ("+a.id) {
		t.Fatalf("reset-offsets of a Kafka group with a member: %q", e)
	}
	if e := k.mkFails("group", "delete", "kafka"); !strings.Contains(e, "Kafka member") {
		t.Fatalf("delete of a Kafka group with a member: %q", e)
	}
	out := k.mk("describe", "group", "kafka")
	for _, want := range []string{"ProtocolType:", "consumer", "Stable", "range", a.id, "/127.0.0.1", "raw"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe group lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^kafka\s+t\s+0\s+3\s+5\s+2\s+raw-[0-9a-f-]{36}\s+/127\.0\.0\.1\s+raw$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^kafka\s+t\s+1\s+-\s+0\s+-\s+raw-`).MatchString(out) {
		t.Fatalf("describe group: t-0 committed at 3 of 5 (lag 2) and t-1, both the raw member's:\n%s", out)
	}
	if out := k.mk("group", "list"); !regexp.MustCompile(`(?m)^kafka\s+consumer\s+Stable\s+1\s+t\s+2$`).MatchString(out) {
		t.Fatalf("group list:\n%s", out)
	}
	// The member leaves: the group is empty; mk's own consumer may join
	// it now, and resumes where the Kafka client committed.
	wantCode(t, "leave", a.leave(), nil)
	if out := k.mk("consume", "t", "--group", "kafka", "-e"); out != "r3\nr4\n" {
		t.Fatalf("mk consume --group after the Kafka client's commit printed %q, want r3 and r4", out)
	}
	k.mk("group", "reset-offsets", "kafka", "--topic", "t", "--to-latest", "--execute")
	k.mk("group", "delete", "kafka")
	dg = send[*kmsg.DescribeGroupsResponse](t, a.cl, a.coord, func() *kmsg.DescribeGroupsRequest { d.Groups = []string{"kafka"}; return d }()).Groups[0]
	wantCode(t, "describe of a deleted group (v6)", dg.ErrorCode, kerr.GroupIDNotFound)
}

// consumerAssignment is a consumer protocol assignment of partitions of
// one topic.
func consumerAssignment(topic string, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, partitions
	a.Topics = append(a.Topics, at)
	return a.AppendTo(nil)
}

// TestKafkaGroupCoordinatorStopped: the coordinator broker is stopped
// (SIGSTOP). Once its heartbeat is stale another broker coordinates the
// group, and a commit is made there. When the stopped broker resumes, the
// group ranks it first again: it must not answer from what it held before
// it stopped, but read the group again (the file was written by its
// successor), so the commit made meanwhile is the group's offset and the
// members go on.
func TestKafkaGroupCoordinatorStopped(t *testing.T) {
	k := startKafkaCluster(t, 3, "--group-initial-rebalance-delay", "0s", "--session-timeout", "2s")
	k.mk("topic", "create", "t", "--partitions", "2", "--replication-factor", "3")
	a := newRawMember(t, k, "g")
	a.join()
	a.sync(map[string][]byte{a.id: consumerAssignment("t", 0, 1)})
	wantCode(t, "commit", a.commit(a.generation, a.id, "t", 0, 10), nil)
	stopped := a.coord
	pid := k.procs[int(stopped)].Process.Pid
	defer syscall.Kill(pid, syscall.SIGCONT)
	if err := stopProcess(pid); err != nil {
		t.Fatal(err)
	}

	find := func() int32 {
		for id := int32(1); id <= 3; id++ {
			if id == stopped {
				continue
			}
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorKeys = []string{"g"}
			return send[*kmsg.FindCoordinatorResponse](t, a.cl, id, fc).Coordinators[0].NodeID
		}
		return -1
	}
	deadline := time.Now().Add(20 * time.Second)
	for a.coord = find(); a.coord == stopped; a.coord = find() {
		if time.Now().After(deadline) {
			t.Fatalf("broker %d is still the coordinator 20 s after it stopped", stopped)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	wantCode(t, "heartbeat at the successor", a.heartbeat(), nil)
	wantCode(t, "commit at the successor", a.commit(a.generation, a.id, "t", 0, 20), nil)

	syscall.Kill(pid, syscall.SIGCONT)
	deadline = time.Now().Add(20 * time.Second)
	for a.coord = find(); a.coord != stopped; a.coord = find() {
		if time.Now().After(deadline) {
			t.Fatalf("the group did not go back to broker %d once it resumed", stopped)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, bounded by the deadline
	}
	waitCode(t, "heartbeat at the resumed coordinator", a.heartbeat, nil)
	if off, code := a.fetchOffset("t", 0); off != 20 || code != 0 {
		t.Fatalf("offset at the resumed coordinator: %d %s (the successor's commit is 20)", off, errName(code))
	}
	wantCode(t, "commit at the resumed coordinator", a.commit(a.generation, a.id, "t", 0, 30), nil)
	kg := groupFile(t, k, "g")["kafka"].(map[string]any)
	if int32(kg["coordinator"].(float64)) != stopped || kg["coordinator_epoch"].(float64) < 3 {
		t.Fatalf("group.json: coordinator %v epoch %v", kg["coordinator"], kg["coordinator_epoch"])
	}
}
