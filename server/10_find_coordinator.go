package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator v0-v5: the broker that coordinates a group (key type 0;
// v0 knows no other). v4+ asks for several keys at once (KIP-699). The
// coordinator is the same whichever broker answers (groupcoord's
// rendezvous choice among the live brokers), given at the address of the
// listener the request came through; COORDINATOR_NOT_AVAILABLE when it has
// no such listener. mk has no transaction coordinator: key type 1 (a
// transactional id) is TRANSACTIONAL_ID_AUTHORIZATION_FAILED, Kafka's
// answer for a transactional id the client may not use (it checks DESCRIBE
// on it first), as InitProducerId answers one: clients report it at once
// as the fatal error it is, where any other answer would have them retry a
// coordinator that never comes until their timeout. An unknown type is
// INVALID_REQUEST.
func init() { register(10, 0, 5, handleFindCoordinator) }

func handleFindCoordinator(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if r.version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Port = -1, -1
		if err := r.findCoordinator(req.CoordinatorType, key, &c); err != nil {
			c.ErrorCode = err.Code
			c.ErrorMessage = kerrMessage(err)
			if req.CoordinatorType == 1 {
				msg := "mk has no transaction coordinator: transactions are not supported"
				c.ErrorMessage = &msg
			}
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if r.version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	}
	return resp, nil
}

func (r *request) findCoordinator(keyType int8, key string, c *kmsg.FindCoordinatorResponseCoordinator) *kerr.Error {
	if keyType == 1 {
		return kerr.TransactionalIDAuthorizationFailed
	}
	if keyType != 0 {
		return kerr.InvalidRequest
	}
	if r.groups() == nil {
		return kerr.CoordinatorNotAvailable
	}
	id, ok := r.groups().CoordinatorFor(key)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	b, err := r.c.s.cfg.Cluster.Broker(id)
	if err != nil || !b.Alive {
		return kerr.CoordinatorNotAvailable
	}
	host, port, ok := r.c.s.brokerAddress(b, r.c.unix)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	c.NodeID, c.Host, c.Port = int32(id), host, port
	return nil
}
