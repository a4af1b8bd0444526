package server

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs v0-v2 (v2+ flexible), the legacy alter: a topic's config
// overrides become exactly the ones given; an override left out goes back
// to its default, as in Kafka. The change is checked whole
// (coord.ValidateConfig: an unknown key or a bad value is INVALID_CONFIG
// and nothing changes) and written by coord.Cluster.AlterTopicConfig, so
// mk topic describe shows it. Kafka's other answers: a resource given
// twice is INVALID_REQUEST, an undefined resource type
// UNSUPPORTED_VERSION, the default topic resource ("") INVALID_REQUEST, an
// invalid topic name INVALID_TOPIC_EXCEPTION, an unknown topic
// UNKNOWN_TOPIC_OR_PARTITION, a null value INVALID_CONFIG; broker configs
// cannot change at run time (INVALID_REQUEST, see configs.go).
// validate_only checks and changes nothing.
func init() { register(33, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	s := r.c.s
	seen := map[resourceKey]int{}
	for _, rr := range req.Resources {
		seen[resourceKey{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch k := (resourceKey{rr.ResourceType, rr.ResourceName}); {
		case !knownResourceType(rr.ResourceType):
			err = wireErrorf(kerr.UnsupportedVersion.Code, "Unknown resource type %d.", rr.ResourceType)
		case seen[k] < 0:
			continue // answered
		case seen[k] > 1:
			seen[k] = -1
			err = wireErrorf(kerr.InvalidRequest.Code, "Duplicate resource.")
		default:
			err = s.alterConfigs(r, rr, req.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errorCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (s *Server) alterConfigs(r *request, rr kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	var names []string
	for _, cfg := range rr.Configs {
		names = append(names, cfg.Name)
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeBroker:
		return s.alterBrokerConfigs(rr.ResourceName, names)
	case kmsg.ConfigResourceTypeTopic:
	default:
		return wireErrorf(kerr.InvalidRequest.Code, "Unexpected resource type %s.", resourceTypeName(rr.ResourceType))
	}
	c := s.cfg.Cluster
	if err := topicResource(c, rr.ResourceName); err != nil {
		return err
	}
	next := map[string]string{}
	var nulls []string
	for _, cfg := range rr.Configs {
		if cfg.Value == nil {
			nulls = append(nulls, cfg.Name)
			continue
		}
		next[cfg.Name] = *cfg.Value
	}
	if len(nulls) > 0 {
		return wireErrorf(kerr.InvalidConfig.Code, "Null value not supported for topic configs: %s", strings.Join(nulls, ","))
	}
	t, err := c.AlterTopicConfig(rr.ResourceName, func(map[string]string) (map[string]string, error) { return next, nil }, validateOnly)
	if err != nil {
		if isUnknownOrInvalid(err) {
			return wireErrorf(kerr.UnknownTopicOrPartition.Code, "unknown topic %s", rr.ResourceName)
		}
		return err
	}
	if !validateOnly {
		s.cfg.Logf("topic %s: configs set to {%s} by an AlterConfigs request from %q", t.Name, overrides(t.Config), r.clientID)
	}
	return nil
}
