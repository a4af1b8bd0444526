package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/groupcoord"
)

// OffsetFetch v1-v8 (v0 read ZooKeeper in Kafka; librdkafka needs v1+).
// v2+ asks for every committed partition with null topics and has a
// request-level error; before v2 an error is each partition's. v5+ answers
// the committed leader epoch. v8 asks for several groups at once (KIP-709).
// Offsets are read from the group's files, so a Kafka client sees the
// commits of mk's own consumers too. A partition without a committed
// offset is -1. RequireStable (v7+) needs nothing: commits are written
// before they are answered, so none is ever pending.
func init() { register(9, 1, 8, handleOffsetFetch) }

func handleOffsetFetch(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.version >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			var topics map[string][]int32
			if rg.Topics != nil {
				topics = map[string][]int32{}
				for _, t := range rg.Topics {
					topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
				}
			}
			offsets, err := r.fetchOffsets(rg.Group, topics)
			g.ErrorCode = code(err)
			for _, t := range byTopic(offsets) {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t[0].Topic
				for _, o := range t {
					p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					p.Partition, p.Offset, p.LeaderEpoch = o.Partition, o.Offset, o.LeaderEpoch
					md := o.Metadata
					p.Metadata = &md
					gt.Partitions = append(gt.Partitions, p)
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil
	}
	var topics map[string][]int32
	if req.Topics != nil || r.version < 2 {
		topics = map[string][]int32{}
		for _, t := range req.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
	}
	offsets, err := r.fetchOffsets(req.Group, topics)
	if err != nil {
		if r.version >= 2 {
			resp.ErrorCode = err.Code
			return resp, nil
		}
		// Before v2 the error is each requested partition's.
		offsets = nil
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				offsets = append(offsets, groupcoord.FetchedOffset{Topic: t.Topic, Partition: p, Offset: -1, LeaderEpoch: -1})
			}
		}
	}
	for _, t := range byTopic(offsets) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t[0].Topic
		for _, o := range t {
			p := kmsg.NewOffsetFetchResponseTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = o.Partition, o.Offset, o.LeaderEpoch
			md := o.Metadata
			p.Metadata = &md
			p.ErrorCode = code(err)
			rt.Partitions = append(rt.Partitions, p)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func (r *request) fetchOffsets(group string, topics map[string][]int32) ([]groupcoord.FetchedOffset, *kerr.Error) {
	if r.groups() == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	return r.groups().FetchOffsets(group, topics)
}

// byTopic splits offsets (sorted by topic) into runs of one topic each.
func byTopic(offsets []groupcoord.FetchedOffset) [][]groupcoord.FetchedOffset {
	var out [][]groupcoord.FetchedOffset
	for i, o := range offsets {
		if i == 0 || o.Topic != offsets[i-1].Topic {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], o)
	}
	return out
}
