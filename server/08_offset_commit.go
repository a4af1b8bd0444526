package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/groupcoord"
)

// OffsetCommit v0-v9. v0 has no generation or member (a client that only
// stores offsets, as generation -1 says from v1); v1 carries a commit
// timestamp and v2-v4 a retention time, which mk ignores (committed offsets
// stay until the group or topic is deleted); v6+ the leader epoch, kept
// with the offset; v7+ the static member's instance id. The offsets are in
// the group's offsets/<topic>.json files before the answer, with their
// leader epoch and metadata.
func init() { register(8, 0, 9, handleOffsetCommit) }

func handleOffsetCommit(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := groupcoord.CommitRequest{
		Group:      req.Group,
		Generation: req.Generation,
		MemberID:   req.MemberID,
		InstanceID: deref(req.InstanceID),
		Offsets:    map[coord.TopicPartition]coord.KafkaOffset{},
	}
	if r.version == 0 {
		cr.Generation, cr.MemberID = -1, ""
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			epoch := p.LeaderEpoch
			if r.version < 6 {
				epoch = -1
			}
			cr.Offsets[coord.TopicPartition{Topic: t.Topic, Partition: int(p.Partition)}] = coord.KafkaOffset{Offset: p.Offset, LeaderEpoch: epoch, Metadata: deref(p.Metadata)}
		}
	}
	var errs map[coord.TopicPartition]*kerr.Error
	if r.groups() != nil {
		errs = r.groups().Commit(cr)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			err, ok := errs[coord.TopicPartition{Topic: t.Topic, Partition: int(p.Partition)}]
			if !ok {
				err = kerr.CoordinatorNotAvailable
			}
			rp.ErrorCode = code(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
