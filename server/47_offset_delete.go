package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// OffsetDelete v0: removes a group's committed offsets of some partitions.
// An empty group loses any; a consumer group with members keeps those of
// topics a member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); any other
// group with members is NON_EMPTY_GROUP.
func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if r.groups() == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	var tps []coord.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, coord.TopicPartition{Topic: t.Topic, Partition: int(p.Partition)})
		}
	}
	topErr, errs := r.groups().DeleteOffsets(req.Group, tps)
	resp.ErrorCode = code(topErr)
	if topErr != nil {
		return resp, nil
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code(errs[coord.TopicPartition{Topic: t.Topic, Partition: int(p.Partition)}])
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
