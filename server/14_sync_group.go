package server

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/groupcoord"
)

// SyncGroup v0-v5. v3+ carries the static member's instance id; from v5
// the protocol type and name are mandatory (INCONSISTENT_GROUP_PROTOCOL
// without them, as Kafka) and answered. Followers wait in the coordinator
// for the leader's assignment; what a follower sends is ignored.
func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if r.groups() == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	if r.version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp, nil
	}
	sr := groupcoord.SyncRequest{
		Group:        req.Group,
		Generation:   req.Generation,
		MemberID:     req.MemberID,
		InstanceID:   deref(req.InstanceID),
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
		Assignments:  make(map[string][]byte, len(req.GroupAssignment)),
	}
	for _, a := range req.GroupAssignment {
		// Copied: kmsg's bytes alias the request's buffer (see JoinGroup).
		sr.Assignments[a.MemberID] = bytes.Clone(a.MemberAssignment)
	}
	res := r.groups().Sync(r.ctx, sr)
	resp.ErrorCode = code(res.Err)
	resp.ProtocolType, resp.Protocol = res.ProtocolType, res.Protocol
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp, nil
}
