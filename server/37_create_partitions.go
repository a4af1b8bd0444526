package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// CreatePartitions v0-v3 (v2+ flexible): raises topics' partition counts
// through coord.Cluster.AddPartitions, as mk topic alter --partitions
// does. Kafka's answers: a topic named twice is INVALID_REQUEST, an
// unknown one UNKNOWN_TOPIC_OR_PARTITION, a count that is not an
// increase INVALID_PARTITIONS, an assignment of the wrong size or with
// bad brokers INVALID_REPLICA_ASSIGNMENT, more replicas than live brokers
// INVALID_REPLICATION_FACTOR. validate_only checks and changes nothing.
// With a positive timeout the answer waits for the new partitions'
// leaders as CreateTopics does (REQUEST_TIMED_OUT at the timeout, the
// partitions added all the same).
func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	c := r.c.s.cfg.Cluster
	count := map[string]int{}
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	// The timeout runs from the request's arrival, as Kafka counts it.
	ctx, cancel, wait := deadline(r.ctx, req.TimeoutMillis)
	defer cancel()
	type grown struct {
		i        int
		name, id string
		first    int
	}
	var added []grown
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if n := count[rt.Topic]; n != 1 {
			if n > 1 {
				count[rt.Topic] = -1
				st.ErrorCode = kerr.InvalidRequest.Code
				st.ErrorMessage = str("Duplicate topic name.")
				resp.Topics = append(resp.Topics, st)
			}
			continue
		}
		before, t, err := addPartitions(c, rt, req.ValidateOnly)
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errMessage(err)
		} else if !req.ValidateOnly {
			added = append(added, grown{len(resp.Topics), t.Name, t.ID, before})
			r.c.s.cfg.Logf("topic %s grown from %d to %d partitions by a CreatePartitions request from %q", t.Name, before, len(t.Partitions), r.clientID)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for _, g := range added {
		if wait && !waitLeaders(ctx, c, g.name, g.id, g.first) {
			st := &resp.Topics[g.i]
			st.ErrorCode = kerr.RequestTimedOut.Code
			st.ErrorMessage = str(fmt.Sprintf("partitions were added to topic %s, but their leaders were not ready within %d ms", g.name, req.TimeoutMillis))
		}
	}
	return resp, nil
}

// addPartitions grows one topic and returns its partition count before.
func addPartitions(c *coord.Cluster, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) (int, *coord.Topic, error) {
	t, err := c.Topic(rt.Topic)
	if err != nil {
		if !isUnknownOrInvalid(err) {
			return 0, nil, err
		}
		return 0, nil, wireErrorf(kerr.UnknownTopicOrPartition.Code, "unknown topic %s", rt.Topic)
	}
	var assignment [][]int
	if rt.Assignment != nil {
		assignment = [][]int{}
		for _, a := range rt.Assignment {
			replicas := make([]int, len(a.Replicas))
			for i, b := range a.Replicas {
				replicas[i] = int(b)
			}
			assignment = append(assignment, replicas)
		}
	}
	after, err := c.AddPartitions(rt.Topic, int(rt.Count), assignment, validateOnly)
	if err != nil {
		return 0, nil, err
	}
	return len(t.Partitions), after, nil
}
