package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The ACL APIs (DescribeAcls, CreateAcls, DeleteAcls v1-v3, Kafka 4's
// range: v0 went with KIP-896) answer as a Kafka broker without an
// authorizer does (authorizer.class.name unset, Kafka's default; AclApis):
// mk has no authorizer, so there are no ACLs to list, create or delete,
// and every answer is SECURITY_DISABLED. Serving them rather than leaving
// them out of ApiVersions matters to clients: an admin tool that asks a
// Kafka cluster for its ACLs expects SECURITY_DISABLED from one without an
// authorizer and says so, where a missing API is "the broker is too old"
// (kafka-python: IncompatibleBrokerVersion).
func init() { register(29, 1, 3, handleDescribeACLs) }

// noAuthorizer is the message Kafka's CreateAcls and DeleteAcls give with
// SECURITY_DISABLED.
const noAuthorizer = "No Authorizer is configured."

func handleDescribeACLs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.ErrorCode = kerr.SecurityDisabled.Code
	resp.ErrorMessage = str("No Authorizer is configured on the broker")
	return resp, nil
}
