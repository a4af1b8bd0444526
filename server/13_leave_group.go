package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/groupcoord"
)

// LeaveGroup v0-v5. v0-v2 name one member and answer one error (the
// request's, else the member's); v3+ batch members, each by member id or,
// to remove a static member, by group.instance.id alone (KIP-345), with an
// error each; v5 gives a reason. The group rebalances at once.
func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if r.groups() == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	var members []groupcoord.LeaveMember
	if r.version < 3 {
		members = []groupcoord.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			members = append(members, groupcoord.LeaveMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID), Reason: deref(m.Reason)})
		}
	}
	topErr, errs := r.groups().Leave(req.Group, members)
	if r.version < 3 {
		resp.ErrorCode = code(topErr)
		if topErr == nil && len(errs) == 1 {
			resp.ErrorCode = code(errs[0])
		}
		return resp, nil
	}
	resp.ErrorCode = code(topErr)
	if topErr != nil {
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, code(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
