package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { joined <- b.join("roundrobin", "range") }()
	waitCode(t, "heartbeat during the rebalance", a.heartbeat, kerr.RebalanceInProgress)
	ra := a.join("range")
	rb := <-joined
	if ra.Generation != 2 || rb.Generation != 2 || ra.LeaderID != a.id || rb.LeaderID != a.id || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("second generation: leader %+v, follower %+v", ra, rb)
	}
	if *ra.Protocol != "range" {
		t.Fatalf("protocol %q: both support range, and range has the most votes", *ra.Protocol)
	}
	// The follower syncs first, with an assignment of its own: it waits,
	// and gets what the leader gives it.
	synced := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { synced <- b.sync(map[string][]byte{b.id: []byte("everything, says b")}) }()
	waitCode(t, "heartbeat before the leader's sync", a.heartbeat, nil)
	wantCode(t, "commit before the assignment", a.commit(a.generation, a.id, "t", 0, 44), kerr.RebalanceInProgress)
	if r := a.sync(map[string][]byte{a.id: []byte("p0"), b.id: []byte("p1")}); r.ErrorCode != 0 || string(r.MemberAssignment) != "p0" {
		t.Fatalf("leader sync: %s %q", errName(r.ErrorCode), r.MemberAssignment)
	}
	if r := <-synced; r.ErrorCode != 0 || string(r.MemberAssignment) != "p1" {
		t.Fatalf("follower sync: %s %q (the leader's assignment, not its own)", errName(r.ErrorCode), r.MemberAssignment)
	}
	wantCode(t, "commit of the old generation", a.commit(1, a.id, "t", 0, 45), kerr.IllegalGeneration)
	wantCode(t, "commit", b.commit(b.generation, b.id, "t", 1, 7), nil)

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
