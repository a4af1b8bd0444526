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
	eachResource(req.Resources,
		func(rr kmsg.AlterConfigsRequestResource) resourceKey {
			return resourceKey{rr.ResourceType, rr.ResourceName}
		},
		func(rr kmsg.AlterConfigsRequestResource) error { return s.alterConfigs(r, rr, req.ValidateOnly) },
		func(rr kmsg.AlterConfigsRequestResource, err error) {
			res := kmsg.NewAlterConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			res.ErrorCode, res.ErrorMessage = errorCode(err), errMessage(err)
			resp.Resources = append(resp.Resources, res)
		})
	return resp, nil
}

func (s *Server) alterConfigs(r *request, rr kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	var names []string
	for _, cfg := range rr.Configs {
		names = append(names, cfg.Name)
	}
	if topic, err := s.alterResource(rr.ResourceType, rr.ResourceName, names); !topic || err != nil {
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
	return s.alterTopicConfig(r, rr.ResourceName, func(map[string]string) (map[string]string, error) { return next, nil },
		validateOnly, "configs set to {%s} by an AlterConfigs request from %q")
}
