package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups v0-v6: state, protocol type, protocol and members (with
// their metadata and assignment when the group is Stable, as Kafka). v3+
// can ask for the authorized operations: without ACLs, all of a group's.
// A group that does not exist is Dead, and from v6 GROUP_ID_NOT_FOUND.
// mk's own groups are described with protocol type "mk".
func init() { register(15, 0, 6, handleDescribeGroups) }

// groupOperations is the authorized operations bit field of a group
// without ACLs: READ (3), DELETE (6), DESCRIBE (8).
const groupOperations = 1<<3 | 1<<6 | 1<<8

func handleDescribeGroups(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = name
		if r.groups() == nil {
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		s, found := r.groups().Describe(name)
		g.ErrorCode = code(s.Err)
		g.State, g.ProtocolType, g.Protocol = s.State, s.ProtocolType, s.Protocol
		if !found && r.version >= 6 {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found."
			g.ErrorMessage = &msg
		}
		if req.IncludeAuthorizedOperations && s.Err == nil && found {
			g.AuthorizedOperations = groupOperations
		}
		for _, m := range s.Members {
			gm := kmsg.NewDescribeGroupsResponseGroupMember()
			gm.MemberID, gm.ClientID, gm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
			if m.InstanceID != "" {
				id := m.InstanceID
				gm.InstanceID = &id
			}
			gm.ProtocolMetadata, gm.MemberAssignment = m.Metadata, m.Assignment
			if gm.ProtocolMetadata == nil {
				gm.ProtocolMetadata = []byte{}
			}
			if gm.MemberAssignment == nil {
				gm.MemberAssignment = []byte{}
			}
			g.Members = append(g.Members, gm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
