package server

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch v0-v4, as Kafka's
// ReplicaManager.lastOffsetForLeaderEpoch answers it: for each partition,
// the largest leader epoch at or below the requested one that the
// leader's log knows, and where it ended there (the start of the next
// epoch, or the log end offset for the current one). Consumers use it
// after a leader change to see whether their position was truncated
// (KIP-320). Only the leader answers (NOT_LEADER_OR_FOLLOWER), after the
// current leader epoch check (v2+: FENCED_LEADER_EPOCH,
// UNKNOWN_LEADER_EPOCH); an epoch the log knows nothing of is answered
// -1, -1 without an error.
func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	s := r.c.s
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			current := rp.CurrentLeaderEpoch
			if r.version < 2 {
				current = -1
			}
			p, err := s.cfg.Replicas.Partition(rt.Topic, rp.Partition)
			if err == nil {
				var epoch int32
				var end int64
				if epoch, end, _, err = p.EndOffsetForEpoch(rp.LeaderEpoch, current); err == nil {
					sp.LeaderEpoch, sp.EndOffset = epoch, end
				}
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
