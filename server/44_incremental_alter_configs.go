package server

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// IncrementalAlterConfigs v0-v1 (v1+ flexible): SET and DELETE a topic's
// config overrides, APPEND to and SUBTRACT from list configs
// (cleanup.policy), starting from the override or else the default, as
// Kafka's ConfigurationControlManager does. The operations of one
// resource are applied to its latest overrides under the metadata lock
// (coord.Cluster.AlterTopicConfig) and the result checked whole: one bad
// operation changes nothing of that resource. DELETE of a key that has no
// override (even an unknown one) changes nothing and succeeds, as in
// Kafka.
//
// Kafka's answers: APPEND or SUBTRACT on a key that is not a list is
// INVALID_CONFIG, an unknown key or bad value INVALID_CONFIG, a key given
// twice in one resource or a resource given twice INVALID_REQUEST, an
// unknown operation INVALID_REQUEST, the default topic resource ("")
// INVALID_REQUEST, an undefined resource type UNSUPPORTED_VERSION, an
// unknown topic UNKNOWN_TOPIC_OR_PARTITION; broker configs cannot change
// at run time (INVALID_REQUEST, see configs.go). validate_only checks and
// changes nothing.
func init() { register(44, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	s := r.c.s
	seen := map[resourceKey]int{}
	for _, rr := range req.Resources {
		seen[resourceKey{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
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
			err = s.incrementalAlter(r, rr, req.ValidateOnly)
		}
		res.ErrorCode, res.ErrorMessage = errorCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (s *Server) incrementalAlter(r *request, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	var names []string
	for _, cfg := range rr.Configs {
		if slices.Contains(names, cfg.Name) {
			return wireErrorf(kerr.InvalidRequest.Code, "Error due to duplicate config keys")
		}
		names = append(names, cfg.Name)
		switch cfg.Op {
		case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete,
			kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		default:
			return wireErrorf(kerr.InvalidRequest.Code, "Unknown config operation %d for key %s", cfg.Op, cfg.Name)
		}
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
	t, err := c.AlterTopicConfig(rr.ResourceName, func(cfg map[string]string) (map[string]string, error) {
		return applyConfigOps(cfg, rr.Configs)
	}, validateOnly)
	if err != nil {
		if isUnknownOrInvalid(err) {
			return wireErrorf(kerr.UnknownTopicOrPartition.Code, "unknown topic %s", rr.ResourceName)
		}
		return err
	}
	if !validateOnly {
		s.cfg.Logf("topic %s: configs now {%s} after an IncrementalAlterConfigs request from %q", t.Name, overrides(t.Config), r.clientID)
	}
	return nil
}

// applyConfigOps applies a resource's operations to its overrides, in
// request order.
func applyConfigOps(cfg map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	for _, op := range ops {
		if op.Op == kmsg.IncrementalAlterConfigOpDelete {
			delete(cfg, op.Name)
			continue
		}
		if op.Value == nil {
			return nil, wireErrorf(kerr.InvalidConfig.Code, "Null value not supported for topic configs: %s", op.Name)
		}
		if op.Op == kmsg.IncrementalAlterConfigOpSet {
			cfg[op.Name] = *op.Value
			continue
		}
		name := "APPEND"
		if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
			name = "SUBTRACT"
		}
		d, ok := coord.DescribeConfigKey(op.Name)
		if !ok || d.Type != "LIST" {
			return nil, wireErrorf(kerr.InvalidConfig.Code, "Can't %s to key %s because its type is not LIST.", name, op.Name)
		}
		cur, ok := cfg[op.Name]
		if !ok {
			cur = d.Default
		}
		var items []string
		for _, it := range strings.Split(cur, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		for _, v := range strings.Split(*op.Value, ",") {
			v = strings.TrimSpace(v)
			if op.Op == kmsg.IncrementalAlterConfigOpAppend && !slices.Contains(items, v) {
				items = append(items, v)
			} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
				items = slices.DeleteFunc(items, func(it string) bool { return it == v })
			}
		}
		cfg[op.Name] = strings.Join(items, ",")
	}
	return cfg, nil
}
