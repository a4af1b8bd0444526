package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups v0-v5: the groups this broker coordinates (a client asks
// every broker), mk's own groups among them with protocol type and group
// type "mk". v4+ filters by state, v5+ by type (KIP-848: Kafka's classic
// groups are "classic").
func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if r.groups() == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	groups, err := r.groups().List(req.StatesFilter, req.TypesFilter)
	resp.ErrorCode = code(err)
	for _, o := range groups {
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = o.Group, o.ProtocolType, o.State, o.Type
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
