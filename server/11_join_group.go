package server

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/groupcoord"
)

// JoinGroup v0-v9. v0 has no rebalance timeout: the session timeout is
// both, as Kafka takes it. v4+ members joining without an id are given one
// with MEMBER_ID_REQUIRED (KIP-394; static members, v5+, are not). v7+
// answers the protocol type and name (null on errors); v9 tells a static
// leader rejoining a stable group to skip the assignment (KIP-814). The
// request waits in the coordinator until its generation starts.
func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if r.groups() == nil {
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.CoordinatorNotAvailable.Code, -1, req.MemberID
		return resp, nil
	}
	jr := groupcoord.JoinRequest{
		Group:                 req.Group,
		MemberID:              req.MemberID,
		InstanceID:            deref(req.InstanceID),
		ClientID:              r.clientID,
		ClientHost:            r.clientHost(),
		SessionTimeout:        time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:      time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		ProtocolType:          req.ProtocolType,
		RequireKnownMemberID:  r.version >= 4 && req.InstanceID == nil,
		SupportSkipAssignment: r.version >= 9,
		Reason:                deref(req.Reason),
	}
	if r.version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range req.Protocols {
		// Copied: kmsg's bytes alias the request's buffer, which the
		// connection reuses for its next request; the coordinator keeps
		// them for the life of the member.
		jr.Protocols = append(jr.Protocols, groupcoord.Protocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)})
	}
	res := r.groups().Join(r.ctx, jr)
	resp.ErrorCode = code(res.Err)
	resp.Generation = res.Generation
	resp.MemberID = res.MemberID
	resp.LeaderID = res.Leader
	resp.SkipAssignment = res.SkipAssignment
	resp.ProtocolType = res.ProtocolType
	resp.Protocol = res.Protocol
	if r.version < 7 && resp.Protocol == nil {
		empty := "" // not nullable before v7
		resp.Protocol = &empty
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID = m.MemberID
		if m.InstanceID != "" {
			id := m.InstanceID
			rm.InstanceID = &id
		}
		rm.ProtocolMetadata = m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
