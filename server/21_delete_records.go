package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/replica"
)

// DeleteRecords v0-v2, as Kafka's ReplicaManager.deleteRecords answers
// it: the leader moves each partition's log start offset up to the
// requested offset (-1: the high watermark), after which records below it
// are gone for every reader (a fetch below it is OFFSET_OUT_OF_RANGE) and
// the segments wholly below it are deleted; then the answer waits, up to
// the request's timeout, until every replica on a live broker has moved its
// own log start too, and gives the low watermark (the smallest of them).
// An offset past the high watermark, or negative, is OFFSET_OUT_OF_RANGE;
// a non-leader answers NOT_LEADER_OR_FOLLOWER; a timeout is
// REQUEST_TIMED_OUT with the low watermark reached so far. Partitions are
// done concurrently, so one slow follower costs one timeout.
func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	s := r.c.s
	ctx, cancel := context.WithTimeout(r.ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for i, rt := range req.Topics {
		for j, rp := range rt.Partitions {
			sp := &resp.Topics[i].Partitions[j]
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := s.cfg.Replicas.Partition(rt.Topic, rp.Partition)
				low := int64(-1)
				if err == nil {
					low, err = p.DeleteRecords(ctx, rp.Offset)
				}
				sp.LowWatermark = low
				sp.ErrorCode = errorCode(err)
				if errors.Is(err, replica.ErrDeleteRecordsTimeout) {
					sp.ErrorCode = kerr.RequestTimedOut.Code
				}
			}()
		}
	}
	wg.Wait()
	return resp, nil
}
