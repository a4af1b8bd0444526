package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// CreateTopics v0-v7 (v1+ validate_only and error messages, v4+ -1 for
// the cluster's num.partitions and default.replication.factor, v5+
// flexible and the created topic's partitions, replication factor and
// configs, v7+ its topic id).
//
// Each topic is created by coord.Cluster.CreateTopicWith, as mk topic
// create does, and the checks are Kafka's controller's, in its order: a
// name given twice in the request (INVALID_REQUEST, for each), the name
// (INVALID_TOPIC_EXCEPTION, also for a '.'/'_' collision; Kafka's own
// metadata log, __cluster_metadata, INVALID_REQUEST), an existing
// topic (TOPIC_ALREADY_EXISTS), the configs (INVALID_CONFIG), then the
// counts (INVALID_REPLICATION_FACTOR, INVALID_PARTITIONS, both also for
// more replicas than live brokers) or the manual assignment
// (INVALID_REQUEST unless both counts are -1, INVALID_REPLICA_ASSIGNMENT).
// -1 means the cluster default in every version: the version rule is
// Kafka's client's, not its broker's.
//
// A validate-only request checks everything and creates nothing; its
// answer has no topic id, since none was made. With a positive timeout
// the answer waits until the new partitions' leaders have taken them (see
// waitLeaders); a topic whose leaders are not ready by then is answered
// REQUEST_TIMED_OUT, created all the same, as Kafka did.
func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	c := r.c.s.cfg.Cluster
	dups := countNames(req.Topics, func(rt kmsg.CreateTopicsRequestTopic) string { return rt.Topic })
	lw := startLeaderWait(r.ctx, req.TimeoutMillis)
	defer lw.cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		if dup, answered := dups.check(rt.Topic); dup {
			if !answered {
				st.ErrorCode = kerr.InvalidRequest.Code
				st.ErrorMessage = str("Duplicate topic name.")
				resp.Topics = append(resp.Topics, st)
			}
			continue
		}
		t, err := createTopic(c, rt, req.ValidateOnly)
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errMessage(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !req.ValidateOnly {
			st.TopicID = topicID(t.ID)
			lw.add(len(resp.Topics), t, 0)
			r.c.s.cfg.Logf("topic %s created by a CreateTopics request from %q (%d partitions, replication factor %d)", t.Name, r.clientID, len(t.Partitions), t.ReplicationFactor())
		}
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(t.ReplicationFactor())
		st.Configs = createdConfigs(t)
		resp.Topics = append(resp.Topics, st)
	}
	lw.timedOut(c, func(i int, name string) {
		st := &resp.Topics[i]
		st.ErrorCode = kerr.RequestTimedOut.Code
		st.ErrorMessage = str(fmt.Sprintf("topic %s was created, but the leaders of its partitions were not ready within %d ms", name, req.TimeoutMillis))
	})
	return resp, nil
}

// createTopic checks what only the wire can get wrong (Kafka's
// ControllerApis and ReplicationControlManager checks), then creates the
// topic through coord.
func createTopic(c *coord.Cluster, rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (*coord.Topic, error) {
	// The name and an existing topic come first in Kafka's order;
	// CreateTopicWith checks both again under the metadata lock.
	if err := coord.ValidateTopicName(rt.Topic); err != nil {
		return nil, err
	}
	if rt.Topic == clusterMetadataTopic {
		return nil, wireErrorf(kerr.InvalidRequest.Code, "Creation of internal topic %s is prohibited.", rt.Topic)
	}
	if _, err := c.Topic(rt.Topic); err == nil {
		return nil, wireErrorf(kerr.TopicAlreadyExists.Code, "topic %s already exists", rt.Topic)
	}
	spec := coord.TopicSpec{
		Partitions:        int(rt.NumPartitions),
		ReplicationFactor: int(rt.ReplicationFactor),
		Config:            map[string]string{},
		ValidateOnly:      validateOnly,
	}
	var nulls []string
	for _, cfg := range rt.Configs {
		if cfg.Value == nil {
			nulls = append(nulls, cfg.Name)
			continue
		}
		spec.Config[cfg.Name] = *cfg.Value
	}
	if len(nulls) > 0 {
		return nil, wireErrorf(kerr.InvalidConfig.Code, "Null value not supported for topic configs: %s", strings.Join(nulls, ","))
	}
	if _, err := coord.ValidateConfig(spec.Config); err != nil {
		return nil, err
	}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.ReplicationFactor != -1 {
			return nil, wireErrorf(kerr.InvalidRequest.Code, "A manual partition assignment was specified, but replication factor was not set to -1.")
		}
		if rt.NumPartitions != -1 {
			return nil, wireErrorf(kerr.InvalidRequest.Code, "A manual partition assignment was specified, but numPartitions was not set to -1.")
		}
		byPartition := map[int32][]int{}
		for _, a := range rt.ReplicaAssignment {
			if _, dup := byPartition[a.Partition]; dup {
				return nil, wireErrorf(kerr.InvalidReplicaAssignment.Code, "Found multiple manual partition assignments for partition %d", a.Partition)
			}
			replicas := make([]int, len(a.Replicas))
			for i, b := range a.Replicas {
				replicas[i] = int(b)
			}
			byPartition[a.Partition] = replicas
		}
		for p := range int32(len(byPartition)) {
			replicas, ok := byPartition[p]
			if !ok {
				return nil, wireErrorf(kerr.InvalidReplicaAssignment.Code, "partitions should be a consecutive 0-based integer sequence")
			}
			spec.Assignment = append(spec.Assignment, replicas)
		}
	} else {
		// Kafka checks these before placing, with its own messages.
		if rt.ReplicationFactor < -1 || rt.ReplicationFactor == 0 {
			return nil, wireErrorf(kerr.InvalidReplicationFactor.Code, "Replication factor was set to an invalid non-positive value.")
		}
		if rt.NumPartitions < -1 || rt.NumPartitions == 0 {
			return nil, wireErrorf(kerr.InvalidPartitions.Code, "Number of partitions was set to an invalid non-positive value.")
		}
	}
	return c.CreateTopicWith(rt.Topic, spec)
}

// createdConfigs lists every topic config of t with its value and source,
// as a v5+ CreateTopics answer does.
func createdConfigs(t *coord.Topic) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, k := range coord.ConfigKeys() {
		cfg := kmsg.NewCreateTopicsResponseTopicConfig()
		cfg.Name = k
		cfg.Value = str(t.ConfigValue(k))
		cfg.Source = int8(kmsg.ConfigSourceDefaultConfig)
		if !t.ConfigIsDefault(k) {
			cfg.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
		}
		out = append(out, cfg)
	}
	return slices.Clip(out)
}
