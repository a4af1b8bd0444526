package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs v0-v4 (v1+ sources and synonyms, v3+ config types and
// documentation, v4+ flexible). What each resource lists, and from where,
// is in configs.go. Kafka's answers: an invalid topic name is
// INVALID_TOPIC_EXCEPTION, an unknown topic UNKNOWN_TOPIC_OR_PARTITION; a
// broker resource must be "" (the cluster-wide defaults) or the id of the
// broker asked (clients send each broker's to that broker), otherwise
// INVALID_REQUEST; config names asked for that do not exist are left out.
// Broker loggers: mk has none to list. Group and client-metrics configs:
// mk has none, INVALID_REQUEST.
func init() { register(32, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	s := r.c.s
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		res.Configs = []kmsg.DescribeConfigsResponseResourceConfig{}
		entries, err := s.describeResource(rr)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = errorCode(err), errMessage(err)
		} else {
			res.Configs = toResponse(entries, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (s *Server) describeResource(rr kmsg.DescribeConfigsRequestResource) ([]configEntry, error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t, err := s.cfg.Cluster.Topic(rr.ResourceName)
		if err != nil {
			return nil, err // ErrInvalidTopic or ErrUnknownTopic, mapped as Kafka does
		}
		return topicConfigEntries(t), nil
	case kmsg.ConfigResourceTypeBroker:
		clusterDefault, err := s.brokerResource(rr.ResourceName, false)
		if err != nil {
			return nil, err
		}
		if clusterDefault {
			return s.clusterConfigEntries(true), nil
		}
		return s.brokerConfigEntries(), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if _, err := s.brokerResource(rr.ResourceName, true); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return nil, wireErrorf(kerr.InvalidRequest.Code, "Unsupported resource type: %s", resourceTypeName(rr.ResourceType))
}
