package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups v0-v2: an empty group is removed with its committed
// offsets (its directory under meta/groups); a group with live members of
// either kind is NON_EMPTY_GROUP, one that does not exist
// GROUP_ID_NOT_FOUND.
func init() { register(42, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = name
		if r.groups() == nil {
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else {
			g.ErrorCode = code(r.groups().Delete(name))
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
