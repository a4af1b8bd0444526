package server

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster v0-v2 (flexible in every version; v1+ endpoint type,
// v2+ fenced brokers): the cluster id, the active controller (-1 while
// there is none) and the live brokers with the addresses of the kind of
// listener the request came through, as Metadata lists them. A broker
// that is registered but not alive (dead, or stopped past its session
// timeout) is what Kafka calls fenced: v2 lists it, marked so, when asked
// to. Asking a broker for the controllers' endpoints (type 2) is
// UNSUPPORTED_ENDPOINT_TYPE, as Kafka's brokers answer. mk has no
// authorizer: every cluster operation is allowed.
func init() { register(60, 0, 2, handleDescribeCluster) }

// clusterOperations is the bit set of every operation Kafka defines on
// the cluster resource (AclOperation codes: CREATE 5, ALTER 7, DESCRIBE
// 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
// IDEMPOTENT_WRITE 12).
const clusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func handleDescribeCluster(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	s := r.c.s
	if r.version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = str("a broker describes the brokers' endpoints only (endpoint type 1)")
		return resp, nil
	}
	resp.EndpointType = 1
	resp.ClusterID = s.cfg.Cluster.ID()
	resp.ControllerID = s.controllerID()
	resp.ClusterAuthorizedOperations = math.MinInt32
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	infos, _ := s.cfg.Cluster.Brokers()
	for _, b := range infos {
		if !b.Alive && !(r.version >= 2 && req.IncludeFencedBrokers) {
			continue
		}
		host, port, ok := s.brokerAddress(b, r.c.unix)
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = int32(b.ID), host, port
		rb.IsFenced = !b.Alive
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
}
