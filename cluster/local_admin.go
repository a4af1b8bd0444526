package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
)

// Topic admin of a local cluster. With a broker alive, the changes go to
// it as Kafka admin requests over its Unix socket (client.AdminRequest)
// and the broker writes the metadata under meta/lock: a command stopped
// (Ctrl-Z) mid-change holds no lock, so it cannot hold up the controller's
// failover or anyone's metadata write. With no broker alive the command
// writes the metadata itself under meta/lock: there is nobody to block.
// What can be checked without reading the topic is checked here first,
// with coord's own checks, so a command says the same either way.

// deadline is ctx's deadline, or none (client.AdminTimeout applies).
func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// CreateTopic creates a topic, spread over the live brokers.
func (l *Local) CreateTopic(ctx context.Context, spec TopicSpec) (*TopicView, error) {
	t, err := client.CreateTopic(l.c, spec.Name, spec.Partitions, spec.ReplicationFactor, spec.Config, deadline(ctx))
	if err != nil {
		return nil, err
	}
	return &TopicView{Topic: t.Name, TopicID: t.ID, PartitionCount: len(t.Partitions), ReplicationFactor: t.ReplicationFactor(), Config: t.Config}, nil
}

// AlterTopic adds partitions (CreatePartitions) and changes configs
// (IncrementalAlterConfigs), in that order. Without a broker the two are
// one metadata write; through a broker they are two requests, and a
// failure of the first leaves the configs as they were.
func (l *Local) AlterTopic(ctx context.Context, name string, change TopicChange) error {
	if err := coord.ValidateTopicName(name); err != nil {
		return err
	}
	if _, err := coord.CheckTopicChange(name, change.Partitions, change.SetConfig, change.DeleteConfig); err != nil {
		return err
	}
	t, err := l.c.Topic(name)
	if err != nil {
		return err
	}
	have := len(t.Partitions)
	if err := coord.CheckPartitionShrink(name, have, change.Partitions); err != nil {
		return err
	}
	local := func() error {
		_, err := l.c.AlterTopic(name, change.Partitions, change.SetConfig, change.DeleteConfig)
		return err
	}
	if change.Partitions > have {
		if err := coord.CheckPartitionCount(name, change.Partitions, change.Partitions-have); err != nil {
			return err
		}
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.Version = 3
		req.TimeoutMillis = 0 // answered once written, not after the leaders are ready
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, int32(change.Partitions)
		req.Topics = append(req.Topics, rt)
		resp := kmsg.NewPtrCreatePartitionsResponse()
		switch err := client.AdminRequest(l.c, deadline(ctx), req, resp); {
		case errorsIsNoBroker(err):
			return local()
		case err != nil:
			return err
		case len(resp.Topics) != 1:
			return fmt.Errorf("alter topic %s: the broker answered for %d topics", name, len(resp.Topics))
		}
		if err := client.AdminError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage); err != nil {
			return err
		}
	}
	if len(change.SetConfig) == 0 && len(change.DeleteConfig) == 0 {
		return nil
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, name
	for _, key := range slices.Sorted(maps.Keys(change.SetConfig)) {
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		v := change.SetConfig[key]
		cfg.Name, cfg.Op, cfg.Value = key, kmsg.IncrementalAlterConfigOpSet, &v
		res.Configs = append(res.Configs, cfg)
	}
	for _, key := range change.DeleteConfig {
		if slices.ContainsFunc(res.Configs, func(c kmsg.IncrementalAlterConfigsRequestResourceConfig) bool { return c.Name == key }) {
			continue // deleted twice: once is enough (a key given twice is refused)
		}
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Op = key, kmsg.IncrementalAlterConfigOpDelete
		res.Configs = append(res.Configs, cfg)
	}
	req.Resources = append(req.Resources, res)
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	switch err := client.AdminRequest(l.c, deadline(ctx), req, resp); {
	case errorsIsNoBroker(err):
		// Partitions already added through a broker that has since gone
		// are not added again: the count is now the one asked for.
		return local()
	case err != nil:
		return err
	case len(resp.Resources) != 1:
		return fmt.Errorf("alter topic %s: the broker answered for %d resources", name, len(resp.Resources))
	}
	return client.AdminError(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage)
}

// DeleteTopic deletes a topic and its replicas.
func (l *Local) DeleteTopic(ctx context.Context, name string) error {
	if err := coord.ValidateTopicName(name); err != nil {
		return err
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 5 // v5+: the broker's error message
	req.TopicNames = []string{name}
	resp := kmsg.NewPtrDeleteTopicsResponse()
	switch err := client.AdminRequest(l.c, deadline(ctx), req, resp); {
	case errorsIsNoBroker(err):
		return l.c.DeleteTopic(name)
	case err != nil:
		return err
	case len(resp.Topics) != 1:
		return fmt.Errorf("delete topic %s: the broker answered for %d topics", name, len(resp.Topics))
	}
	return client.AdminError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
}

// errorsIsNoBroker: no broker is alive, so the command writes itself.
func errorsIsNoBroker(err error) bool { return err == client.ErrNoLiveBroker }
