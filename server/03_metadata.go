package server

import (
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// Metadata v0-v12: brokers (with the addresses of the listener the
// request came through), cluster id (v2+), controller (v1+), topics with
// ids (v10+), partitions with leader, leader epoch (v7+), replicas, ISR
// and offline replicas (v5+). Auto-creation as Kafka: when the cluster's
// auto.create.topics.enable is on and the request allows it (always
// before v4), an unknown topic is created with the cluster's defaults and
// answered with LEADER_NOT_AVAILABLE, so the client asks again. Kafka's
// internal topics are never auto-created: Kafka creates __consumer_offsets
// and __transaction_state for its group and transaction coordinators (with
// their own partition counts and configs), and mk keeps groups in
// meta/groups and has no transactions, so a Metadata request naming one
// (kcat -L -t __consumer_offsets, a lag monitor) would otherwise leave an
// ordinary one-partition topic of that name that every client lists and
// may write to; such a name is UNKNOWN_TOPIC_OR_PARTITION until someone
// creates it on purpose. A topic of an internal name is answered
// is_internal, as Kafka marks it by name (clients leave internal topics
// out of pattern subscriptions).
func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	s := r.c.s
	c := s.cfg.Cluster
	brokers, alive := s.liveBrokers(r.c.unix)
	resp.Brokers = brokers
	id := c.ID()
	resp.ClusterID = &id
	resp.ControllerID = s.controllerID()

	all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if all {
		// Every topic, and those whose file cannot be read with their
		// error: one damaged file does not hide the others.
		topics, unreadable, _ := c.ListTopics()
		for _, t := range topics {
			resp.Topics = append(resp.Topics, topicMetadata(t, alive))
		}
		for _, u := range unreadable {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(u.Name)
			mt.ErrorCode = errorCode(u.Err)
			resp.Topics = append(resp.Topics, mt)
		}
		return resp, nil
	}
	autoCreate := (r.version < 4 || req.AllowAutoTopicCreation) && c.ClusterConfig().AutoCreateTopics
	var byID map[[16]byte]*coord.Topic
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			// v10+: by topic id.
			if byID == nil {
				byID = map[[16]byte]*coord.Topic{}
				topics, _, _ := c.ListTopics() // the readable ones
				for _, t := range topics {
					byID[topicID(t.ID)] = t
				}
			}
			t := byID[rt.TopicID]
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, topicMetadata(t, alive))
			continue
		}
		name := *rt.Topic
		t, err := c.Topic(name)
		if errors.Is(err, coord.ErrUnknownTopic) && autoCreate && !internalTopicName(name) {
			if err = coord.ValidateTopicName(name); err == nil {
				cc := c.ClusterConfig()
				_, err = c.CreateTopic(name, cc.NumPartitions, cc.DefaultReplicationFactor, nil)
				switch {
				case err == nil:
					s.cfg.Logf("topic %s created by a Metadata request from %q (auto.create.topics.enable)", name, r.clientID)
					err = errLeaderNotAvailable
				case errors.Is(err, coord.ErrTopicNameCollision):
					// Not created: INVALID_TOPIC_EXCEPTION, the answer
					// of Kafka's auto-creation for a name that collides
					// with a topic's ('.' and '_'); a retriable answer
					// would have a producer retry until its timeout.
				case errors.Is(err, coord.ErrTopicExists):
					err = errLeaderNotAvailable // created meanwhile by another request
				}
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &name
			mt.ErrorCode = errorCode(err)
			if errors.Is(err, errLeaderNotAvailable) {
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, topicMetadata(t, alive))
	}
	return resp, nil
}

var errLeaderNotAvailable = errors.New("leader not available")

// clusterMetadataTopic is the name of Kafka's KRaft metadata log, which
// CreateTopics refuses to create.
const clusterMetadataTopic = "__cluster_metadata"

// internalTopicName reports whether Kafka reserves name for a topic of its
// own: Topic.isInternal's two (the group coordinator's offsets and the
// transaction coordinator's state, the only ones Metadata marks
// is_internal) and the KRaft metadata log.
func internalTopicName(name string) bool {
	return markedInternal(name) || name == clusterMetadataTopic
}

// markedInternal reports whether Metadata marks a topic named name
// is_internal (Kafka's Topic.isInternal).
func markedInternal(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// topicMetadata describes t. A partition whose recorded leader is not alive
// has leader -1 and LEADER_NOT_AVAILABLE, as Kafka's metadata cache shows a
// partition the controller has not moved yet; replicas that are not alive
// are listed offline.
func topicMetadata(t *coord.Topic, alive map[int]bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = topicID(t.ID)
	mt.IsInternal = markedInternal(name)
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(p.Partition)
		mp.Leader = int32(p.Leader)
		mp.LeaderEpoch = int32(p.LeaderEpoch)
		mp.Replicas = int32s(p.Replicas)
		mp.ISR = int32s(p.ISR)
		for _, b := range p.Replicas {
			if !alive[b] {
				mp.OfflineReplicas = append(mp.OfflineReplicas, int32(b))
			}
		}
		if p.Leader == coord.NoLeader || !alive[p.Leader] {
			mp.Leader = -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	slices.SortFunc(mt.Partitions, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
	return mt
}
