package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// InitProducerId v0-v5 (kmsg's range; v2 is flexible, v3 carries the
// producer id and epoch of a producer asking for a bump (KIP-360), v4 and
// v5 only change what transactional producers may ask). Any broker
// answers it, as in Kafka, where a request without a transactional id goes
// to any broker (KafkaApis.handleInitProducerIdRequest, then
// TransactionCoordinator.handleInitProducerId):
//
//   - a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED. mk has no
//     transaction coordinator; Kafka's answer for a transactional id this
//     client may not use is the one every client reports at once, as the
//     fatal error it is, instead of retrying a coordinator that will never
//     come (NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE would make clients
//     retry until their timeout). It comes first, as Kafka's authorization
//     check does;
//   - v3+: a producer id without an epoch, or an epoch without an id:
//     INVALID_REQUEST;
//   - otherwise a new producer id, with epoch 0, whatever id and epoch the
//     request carried (Kafka's coordinator "blindly accepts" a request
//     without a transactional id and returns a new producer id; an
//     idempotent producer bumps its epoch locally). Ids come from the block
//     this broker claimed in meta/producer-ids.json (coord.ProducerIDs):
//     never given twice, across brokers and restarts. When the metadata
//     lock cannot be had (a stopped process holds it) the answer is
//     COORDINATOR_LOAD_IN_PROGRESS, Kafka's retriable answer while no block
//     of ids is available; a damaged producer-ids.json is
//     UNKNOWN_SERVER_ERROR and is logged, never rewritten.
func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if (req.ProducerID == -1) != (req.ProducerEpoch == -1) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	id, err := r.c.s.producerIDs.Next()
	switch {
	case err == nil:
		resp.ProducerID, resp.ProducerEpoch = id, 0
	case errors.Is(err, coord.ErrMetadataLocked):
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	default:
		r.c.s.cfg.Logf("init producer id: %v", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
	}
	return resp, nil
}
