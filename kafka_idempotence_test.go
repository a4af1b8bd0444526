package main

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// initProducerID sends InitProducerId to broker id and returns its answer.
func initProducerID(t *testing.T, cl *kgo.Client, id int32, edit func(*kmsg.InitProducerIDRequest)) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	if edit != nil {
		edit(req)
	}
	resp, err := req.RequestWith(testContext(t), cl.Broker(int(id)))
	if err != nil {
		t.Fatalf("InitProducerId to broker %d: %v", id, err)
	}
	return resp
}

// TestKafkaInitProducerID: every broker gives producer ids from the blocks
// it claims in the metadata directory, never the same one twice, also
// after a restart; transactional ids are refused as Kafka refuses a
// transactional id a client may not use; at every version kmsg knows.
func TestKafkaInitProducerID(t *testing.T) {
	k := startKafkaCluster(t, 2)
	cl := k.client()
	seen := map[int64]bool{}
	take := func(broker int32, cl *kgo.Client) int64 {
		t.Helper()
		resp := initProducerID(t, cl, broker, nil)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil || resp.ProducerEpoch != 0 || resp.ProducerID < 0 {
			t.Fatalf("broker %d: %+v, %v", broker, resp, err)
		}
		if seen[resp.ProducerID] {
			t.Fatalf("producer id %d given twice", resp.ProducerID)
		}
		seen[resp.ProducerID] = true
		return resp.ProducerID
	}
	a1, a2 := take(1, cl), take(1, cl)
	b1 := take(2, cl)
	if a2 != a1+1 || b1/1000 == a1/1000 {
		t.Fatalf("ids %d, %d from broker 1 and %d from broker 2: want consecutive ids from one block per broker", a1, a2, b1)
	}
	// InitProducerId v0 (Kafka 0.11), v1 and v2 (flexible) answer alike.
	for _, v := range []*kversion.Versions{kversion.V0_11_0(), kversion.V2_0_0(), kversion.V2_4_0()} {
		take(1, k.client(kgo.MaxVersions(v)))
	}
	// A producer bumping its epoch (v3+, KIP-360) without a transactional
	// id gets a new id at epoch 0, as from Kafka's coordinator.
	resp := initProducerID(t, cl, 2, func(r *kmsg.InitProducerIDRequest) { r.ProducerID, r.ProducerEpoch = b1, 0 })
	if resp.ErrorCode != 0 || resp.ProducerID == b1 || resp.ProducerEpoch != 0 {
		t.Fatalf("bump of %d: %+v", b1, resp)
	}
	seen[resp.ProducerID] = true
	// An id without an epoch is a bad request.
	resp = initProducerID(t, cl, 2, func(r *kmsg.InitProducerIDRequest) { r.ProducerID, r.ProducerEpoch = b1, -1 })
	if resp.ErrorCode != kerr.InvalidRequest.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
		t.Fatalf("id without epoch: %+v", resp)
	}
	// Transactions: mk has no coordinator.
	resp = initProducerID(t, cl, 1, func(r *kmsg.InitProducerIDRequest) { txn := "tx"; r.TransactionalID = &txn })
	if resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || resp.ProducerID != -1 {
		t.Fatalf("transactional id: %+v", resp)
	}
	// A restarted broker claims a new block: no id is given again.
	k.kill(1)
	k.start(1)
	k.waitAddress(1)
	cl2 := k.client()
	after := take(1, cl2)
	if after <= b1 {
		t.Fatalf("after a restart broker 1 gave %d, below ids given before", after)
	}
}
