package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/groupcoord"
)

// Heartbeat v0-v4 (v3+ with the static member's instance id).
func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if r.groups() == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ErrorCode = code(r.groups().Heartbeat(groupcoord.HeartbeatRequest{
		Group:      req.Group,
		Generation: req.Generation,
		MemberID:   req.MemberID,
		InstanceID: deref(req.InstanceID),
	}))
	return resp, nil
}
