package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateAcls v1-v3: SECURITY_DISABLED for every creation asked, as Kafka
// answers without an authorizer (CreateAclsRequest.getErrorResponse); see
// 29_describe_acls.go.
func init() { register(30, 1, 3, handleCreateACLs) }

func handleCreateACLs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	for range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode, res.ErrorMessage = kerr.SecurityDisabled.Code, str(noAuthorizer)
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
