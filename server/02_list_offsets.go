package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
	"mk/replica"
)

// ListOffsets v1-v10, as Kafka's ReplicaManager.fetchOffset answers it:
//
//   - earliest (-2) is the log start offset with the epoch of the oldest
//     leader epoch the log still knows; latest (-1) is the high watermark
//     for a consumer (replica id -1), the log end offset for anyone else,
//     with the current leader epoch; a timestamp finds the first record at
//     or after it; max timestamp (-3, v7+, KIP-734) the first record with
//     the log's largest timestamp; earliest local (-4, v8+) is earliest,
//     mk having no remote tier; latest tiered (-5, v9+) is -1 for the same
//     reason. A special timestamp older than the request version is
//     UNSUPPORTED_VERSION; a record found at or above the bound (or none)
//     is offset -1, timestamp -1 without an error.
//   - Both isolation levels have the same bound: mk has no transactions,
//     so the last stable offset is the high watermark.
//   - Only the leader answers (NOT_LEADER_OR_FOLLOWER), except to a
//     debugging client (replica id -2), which Kafka lets read followers;
//     the current leader epoch (v4+) is checked (FENCED_LEADER_EPOCH,
//     UNKNOWN_LEADER_EPOCH). A new leader whose high watermark has not
//     reached the start of its epoch answers a consumer's latest
//     OFFSET_NOT_AVAILABLE (v5+; LEADER_NOT_AVAILABLE before).
//   - A partition named twice is INVALID_REQUEST, both times.
func init() { register(2, 1, 10, handleListOffsets) }

func handleListOffsets(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	s := r.c.s
	type tp struct {
		topic     string
		partition int32
	}
	count := map[tp]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			count[tp{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			epoch := rp.CurrentLeaderEpoch
			if r.version < 4 {
				epoch = -1
			}
			switch {
			case count[tp{rt.Topic, rp.Partition}] > 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case timestampUnsupported(rp.Timestamp, r.version):
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			default:
				var found logdir.TimestampOffset
				p, err := s.cfg.Replicas.Partition(rt.Topic, rp.Partition)
				ok := false
				if err == nil {
					found, ok, err = p.ListOffset(rp.Timestamp, epoch, req.ReplicaID)
				}
				switch {
				case errors.Is(err, replica.ErrOffsetNotAvailable) && r.version < 5:
					sp.ErrorCode = kerr.LeaderNotAvailable.Code
				case errors.Is(err, replica.ErrOffsetNotAvailable):
					sp.ErrorCode = kerr.OffsetNotAvailable.Code
				case err != nil:
					sp.ErrorCode = errorCode(err)
				case ok:
					sp.Offset, sp.Timestamp = found.Offset, found.Timestamp
					if r.version >= 4 {
						sp.LeaderEpoch = found.LeaderEpoch
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// timestampUnsupported is Kafka's isListOffsetsTimestampUnsupported: a
// special (negative) timestamp that the request's version does not know,
// or one that is not special at all.
func timestampUnsupported(ts int64, version int16) bool {
	if ts >= 0 {
		return false
	}
	since := map[int64]int16{
		replica.LatestTimestamp:        1,
		replica.EarliestTimestamp:      1,
		replica.MaxTimestamp:           7,
		replica.EarliestLocalTimestamp: 8,
		replica.LatestTieredTimestamp:  9,
	}
	v, known := since[ts]
	return !known || version < v
}
