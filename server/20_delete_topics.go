package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// DeleteTopics v0-v6 (v4+ flexible, v5+ error messages, v6+ topics by
// name or by topic id).
//
// Each topic is deleted by coord.Cluster.DeleteTopic, as mk topic delete
// does: its metadata file first, then every replica's data. Kafka's
// answers: an unknown name is UNKNOWN_TOPIC_OR_PARTITION (an invalid name
// too: it names no topic), an unknown id UNKNOWN_TOPIC_ID; a name or id
// given twice, both name and id, or neither, INVALID_REQUEST. A topic
// given by id is deleted only if the name still has that id, so a topic
// created again under the same name meanwhile is not touched.
func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	c := r.c.s.cfg.Cluster
	topics := req.Topics
	if r.version < 6 {
		topics = nil
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			topics = append(topics, rt)
		}
	}
	answer := func(name *string, id [16]byte, err error) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = name, id
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	names, ids := map[string]int{}, map[[16]byte]int{}
	for _, rt := range topics {
		if rt.Topic != nil && rt.TopicID == ([16]byte{}) {
			names[*rt.Topic]++
		} else if rt.Topic == nil && rt.TopicID != ([16]byte{}) {
			ids[rt.TopicID]++
		}
	}
	var byID map[[16]byte]*coord.Topic
	for _, rt := range topics {
		switch {
		case rt.Topic == nil && rt.TopicID == [16]byte{}:
			answer(nil, rt.TopicID, wireErrorf(kerr.InvalidRequest.Code, "Neither topic name nor id were specified."))
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			answer(rt.Topic, rt.TopicID, wireErrorf(kerr.InvalidRequest.Code, "You may not specify both topic name and topic id."))
		case rt.Topic != nil:
			name := *rt.Topic
			switch names[name] {
			case -1: // answered
			case 1:
				answer(rt.Topic, [16]byte{}, deleteResult(r, name, c.DeleteTopic(name)))
			default:
				names[name] = -1
				answer(rt.Topic, [16]byte{}, wireErrorf(kerr.InvalidRequest.Code, "Duplicate topic name."))
			}
		default:
			switch ids[rt.TopicID] {
			case -1:
			case 1:
				if byID == nil {
					byID = map[[16]byte]*coord.Topic{}
					all, _, _ := c.ListTopics() // the readable ones
					for _, t := range all {
						byID[topicID(t.ID)] = t
					}
				}
				t := byID[rt.TopicID]
				if t == nil {
					answer(nil, rt.TopicID, wireErrorf(kerr.UnknownTopicID.Code, "unknown topic id %s", topicIDString(rt.TopicID)))
					continue
				}
				err := deleteResult(r, t.Name, c.DeleteTopicID(t.Name, t.ID))
				if errors.Is(err, coord.ErrUnknownTopic) {
					err = wireErrorf(kerr.UnknownTopicID.Code, "unknown topic id %s", t.ID)
				}
				answer(kmsg.StringPtr(t.Name), rt.TopicID, err)
			default:
				ids[rt.TopicID] = -1
				answer(nil, rt.TopicID, wireErrorf(kerr.InvalidRequest.Code, "Duplicate topic id."))
			}
		}
	}
	return resp, nil
}

// deleteResult turns DeleteTopic's error into the answer. An invalid
// name names no topic: UNKNOWN_TOPIC_OR_PARTITION. A topic whose metadata
// file is gone but some of whose data could not be removed is deleted for
// every client, so it is answered as deleted and the broker's log says
// what was left (Kafka too removes the data after it answers).
func deleteResult(r *request, name string, err error) error {
	switch {
	case errors.Is(err, coord.ErrInvalidTopic):
		return wireErrorf(kerr.UnknownTopicOrPartition.Code, "unknown topic %s", name)
	case errors.Is(err, coord.ErrUnknownTopic):
		return err
	case err != nil:
		if _, terr := r.c.s.cfg.Cluster.Topic(name); !errors.Is(terr, coord.ErrUnknownTopic) {
			return err
		}
		r.c.s.cfg.Logf("delete topic %s: %v", name, err)
	}
	r.c.s.cfg.Logf("topic %s deleted by a DeleteTopics request from %q", name, r.clientID)
	return nil
}
