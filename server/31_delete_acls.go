package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteAcls v1-v3: SECURITY_DISABLED for every filter, matching nothing,
// as Kafka answers without an authorizer (DeleteAclsRequest.getErrorResponse);
// see 29_describe_acls.go.
func init() { register(31, 1, 3, handleDeleteACLs) }

func handleDeleteACLs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	for range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, str(noAuthorizer)
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
