package server

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/logdir"
)

// DescribeProducers v0 (flexible; KIP-664), as Kafka's KafkaApis and
// ReplicaManager.activeProducerState answer it: every partition asked for
// gets an answer, in the request's order. A topic the metadata does not
// know, or a partition out of its range, is UNKNOWN_TOPIC_OR_PARTITION; a
// partition this broker holds no open replica of is NOT_LEADER_OR_FOLLOWER
// (clients ask the leader); otherwise the replica's own producer state
// (the leader's, or a follower's copy when a client asks a follower, as
// Kafka's Partition.activeProducerState reads its local log), one entry
// per idempotent producer it remembers, by producer id: its epoch, the
// sequence of its last record and the timestamp of its last batch (-1
// when it has no batch since its epoch changed). mk has no transactions:
// the coordinator epoch and the current transaction's start offset are
// -1. mk has no authorizer: reading every topic is allowed.
//
// Cost: each topic name is looked up once per request and each partition
// once, however often the request repeats them; a partition beyond the
// topic's range costs nothing more.
func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	s := r.c.s
	type tp struct {
		topic     string
		partition int32
	}
	topics := map[string]*coord.Topic{} // nil: unknown
	answers := map[tp]kmsg.DescribeProducersResponseTopicPartition{}
	for _, rt := range req.Topics {
		t, seen := topics[rt.Topic]
		if !seen {
			t, _ = s.cfg.Cluster.Topic(rt.Topic) // an invalid or unreadable topic is not known
			topics[rt.Topic] = t
		}
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			if t == nil || p < 0 || int(p) >= len(t.Partitions) {
				sp := kmsg.NewDescribeProducersResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp, ok := answers[tp{rt.Topic, p}]
			if !ok {
				sp = s.activeProducers(rt.Topic, p)
				answers[tp{rt.Topic, p}] = sp
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// activeProducers is one partition's answer from its local replica.
func (s *Server) activeProducers(topic string, partition int32) kmsg.DescribeProducersResponseTopicPartition {
	sp := kmsg.NewDescribeProducersResponseTopicPartition()
	sp.Partition = partition
	p, err := s.cfg.Replicas.Partition(topic, partition)
	var producers map[int64]logdir.ProducerEntry
	if err == nil {
		producers, err = p.Producers()
	}
	if err != nil {
		sp.ErrorCode = errorCode(err)
		return sp
	}
	sp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
	for id, e := range producers {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch = id, int32(e.Epoch)
		ap.LastSequence = e.LastSequence()
		if len(e.Batches) > 0 {
			ap.LastTimestamp = e.Batches[len(e.Batches)-1].Timestamp
		}
		ap.CoordinatorEpoch = -1
		sp.ActiveProducers = append(sp.ActiveProducers, ap)
	}
	slices.SortFunc(sp.ActiveProducers, func(a, b kmsg.DescribeProducersResponseTopicPartitionActiveProducer) int {
		return cmp.Compare(a.ProducerID, b.ProducerID)
	})
	return sp
}
