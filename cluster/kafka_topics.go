package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
)

// Describing and managing a Kafka cluster's brokers and topics, with
// kadm. What a Kafka client cannot know is -1 in the views (- in tables):
// a broker's pid, a partition's log end offset (clients see the high
// watermark), and sizes where the cluster does not answer DescribeLogDirs.

// DescribeCluster lists the brokers the cluster's metadata names: the live
// ones (a Kafka cluster does not list the others).
func (k *Kafka) DescribeCluster(ctx context.Context) (*ClusterView, []error, error) {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	md, err := k.adm.Metadata(ctx)
	if err != nil {
		return nil, nil, k.mapErr(ctx, err)
	}
	v := &ClusterView{ClusterID: md.Cluster, Dir: k.Bootstrap(), Controller: int(md.Controller), ControllerEpoch: -1, Brokers: []BrokerView{}}
	sizes := k.brokerSizes(ctx)
	var damaged []error
	for _, b := range md.Brokers {
		row := BrokerView{ID: int(b.NodeID), State: "alive", Host: b.Host, Address: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), Controller: b.NodeID == md.Controller, SizeBytes: -1}
		if s, ok := sizes[b.NodeID]; ok {
			row.SizeBytes = s
		}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				if slices.Contains(p.Replicas, b.NodeID) {
					row.Partitions++
				}
				if p.Leader == b.NodeID {
					row.Leaders++
				}
			}
		}
		v.Brokers = append(v.Brokers, row)
	}
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			damaged = append(damaged, fmt.Errorf("topic %s: %w", t.Topic, kafkaErr(t.Err)))
		}
	}
	sort.Slice(v.Brokers, func(i, j int) bool { return v.Brokers[i].ID < v.Brokers[j].ID })
	return v, damaged, nil
}

// brokerSizes is the bytes of every broker's log directories, for the
// brokers that answer DescribeLogDirs.
func (k *Kafka) brokerSizes(ctx context.Context) map[int32]int64 {
	all, err := k.adm.DescribeAllLogDirs(ctx, nil)
	out := map[int32]int64{}
	if err != nil && len(all) == 0 {
		return out
	}
	for b, dirs := range all {
		var n int64
		ok := false
		for _, d := range dirs {
			if d.Err == nil {
				n += d.Size()
				ok = true
			}
		}
		if ok {
			out[b] = n
		}
	}
	return out
}

// Topics describes every topic, internal ones included (as
// kafka-topics.sh --describe does).
func (k *Kafka) Topics(ctx context.Context) ([]*TopicView, []error, error) {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, nil, k.mapErr(ctx, err)
	}
	var damaged []error
	var names []string
	for _, t := range tds.Sorted() {
		if t.Err != nil {
			damaged = append(damaged, fmt.Errorf("topic %s: %w", t.Topic, kafkaErr(t.Err)))
			continue
		}
		names = append(names, t.Topic)
	}
	views, err := k.viewTopics(ctx, tds, names)
	if err != nil {
		return nil, nil, k.mapErr(ctx, err)
	}
	return views, damaged, nil
}

// listTopic lists topic name alone, failing as a command on that topic
// should when the cluster does not have it.
func (k *Kafka) listTopic(ctx context.Context, name string) (kadm.TopicDetails, error) {
	tds, err := k.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return nil, k.mapErr(ctx, err)
	}
	if err := topicErr(name, detail(tds, name).Err); err != nil {
		return nil, err
	}
	return tds, nil
}

// Topic describes one topic.
func (k *Kafka) Topic(ctx context.Context, name string) (*TopicView, error) {
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.listTopic(ctx, name)
	if err != nil {
		return nil, err
	}
	views, err := k.viewTopics(ctx, tds, []string{name})
	if err != nil {
		return nil, k.mapErr(ctx, err)
	}
	return views[0], nil
}

// topicErr is a topic's metadata error as mk's.
func topicErr(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return newKafkaError(coord.ErrUnknownTopic, err, "unknown topic %s", name)
	}
	return fmt.Errorf("topic %s: %w", name, kafkaErr(err))
}

// viewTopics gathers the views of the named topics of tds: offsets from
// ListOffsets, configs from DescribeConfigs, sizes from DescribeLogDirs
// (where the cluster answers it).
func (k *Kafka) viewTopics(ctx context.Context, tds kadm.TopicDetails, names []string) ([]*TopicView, error) {
	views := []*TopicView{}
	if len(names) == 0 {
		return views, nil
	}
	// A broker that does not serve ListOffsets leaves the offsets unknown
	// (-), as DescribeConfigs and DescribeLogDirs leave configs and sizes.
	// So does a leader that does not answer (stopped, hung): a note
	// names it.
	var notes []string
	noted := func(err error) bool {
		if !errors.Is(err, errNoAnswer) && !errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		if na := k.watch.noAnswer(); na != nil && len(notes) == 0 {
			notes = append(notes, na.Error()+": offsets unknown")
		}
		return true
	}
	starts, err := k.adm.ListStartOffsets(ctx, names...)
	if err != nil && len(starts) == 0 && !unsupported(err) && !noted(err) {
		return nil, err
	}
	ends, err := k.adm.ListEndOffsets(ctx, names...)
	if err != nil && len(ends) == 0 && !unsupported(err) && !noted(err) {
		return nil, err
	}
	configs := k.topicConfigs(ctx, names)
	sizes := k.partitionSizes(ctx, tds, names)
	for _, name := range names {
		td := tds[name]
		v := &TopicView{Topic: name, TopicID: topicID(td.ID), PartitionCount: len(td.Partitions), Config: configs[name], Partitions: []PartitionView{}, Notes: append([]string{}, notes...)}
		if v.Config == nil {
			v.Config = map[string]string{}
		}
		for _, p := range td.Partitions.Sorted() {
			pv := PartitionView{Partition: int(p.Partition), Leader: int(p.Leader), LeaderEpoch: int(p.LeaderEpoch),
				Replicas: ints32(p.Replicas), ISR: ints32(p.ISR), LogStartOffset: -1, HighWatermark: -1, LogEndOffset: -1, SizeBytes: -1,
				OfflineReplicas: ints32(p.OfflineReplicas), Damaged: []coord.DamagedReplica{}}
			if p.Leader < 0 {
				pv.Leader = coord.NoLeader
			}
			if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
				pv.LogStartOffset = o.Offset
			}
			if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
				pv.HighWatermark = o.Offset
			}
			if s, ok := sizes[partitionKey{name, p.Partition, p.Leader}]; ok {
				pv.SizeBytes = s
			}
			v.ReplicationFactor = max(v.ReplicationFactor, len(p.Replicas))
			v.Partitions = append(v.Partitions, pv)
		}
		views = append(views, v)
	}
	return views, nil
}

type partitionKey struct {
	topic     string
	partition int32
	broker    int32
}

// partitionSizes is the size of every replica of the topics, by broker,
// where the brokers answer DescribeLogDirs. The request names every
// partition: a broker lists only the partitions named (a topic named
// without partitions lists none).
func (k *Kafka) partitionSizes(ctx context.Context, tds kadm.TopicDetails, topics []string) map[partitionKey]int64 {
	set := kadm.TopicsSet{}
	for _, t := range topics {
		for p := range tds[t].Partitions {
			set.Add(t, p)
		}
	}
	out := map[partitionKey]int64{}
	all, err := k.adm.DescribeAllLogDirs(ctx, set)
	if err != nil && len(all) == 0 {
		return out
	}
	all.Each(func(d kadm.DescribedLogDir) {
		if d.Err != nil {
			return
		}
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			out[partitionKey{p.Topic, p.Partition, p.Broker}] += p.Size
		})
	})
	return out
}

// topicConfigs is, per topic, the configs set on it (not defaults).
func (k *Kafka) topicConfigs(ctx context.Context, topics []string) map[string]map[string]string {
	out := map[string]map[string]string{}
	rcs, err := k.adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil && len(rcs) == 0 {
		return out
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			continue
		}
		m := map[string]string{}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				m[c.Key] = *c.Value
			}
		}
		out[rc.Name] = m
	}
	return out
}

// topicID is Kafka's string form of a topic id (base64url, no padding,
// as Kafka's Uuid.toString), or "" for none.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func ints32(xs []int32) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

// CreateTopic creates a topic; zero partitions or replication factor take
// the cluster's defaults (CreateTopics v4+, KIP-464).
func (k *Kafka) CreateTopic(ctx context.Context, spec TopicSpec) (*TopicView, error) {
	if err := coord.ValidateTopicName(spec.Name); err != nil {
		return nil, err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	parts, rf := int32(spec.Partitions), int16(spec.ReplicationFactor)
	if parts == 0 {
		parts = -1
	}
	if rf == 0 {
		rf = -1
	}
	cfg := map[string]*string{}
	for key, v := range spec.Config {
		cfg[key] = &v
	}
	resp, err := k.adm.CreateTopic(ctx, parts, rf, cfg, spec.Name)
	if err != nil && resp.Err == nil {
		return nil, k.mapErr(ctx, err)
	}
	if resp.Err != nil {
		if errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			return nil, newKafkaError(coord.ErrTopicExists, resp.Err, "topic %s already exists", spec.Name)
		}
		if errors.Is(resp.Err, kerr.InvalidTopicException) && strings.Contains(resp.ErrMessage, "collides") {
			// A valid name that '.' and '_' make another's: Kafka says
			// INVALID_TOPIC_EXCEPTION ("Topic 'a_b' collides with existing
			// topics: a.b"); for mk the name is taken, as locally.
			return nil, &kafkaError{msg: resp.ErrMessage, sentinel: coord.ErrTopicExists, cause: resp.Err}
		}
		return nil, brokerErr("create topic "+spec.Name, resp.Err, resp.ErrMessage)
	}
	k.cl.PurgeTopicsFromClient(spec.Name) // the next request sees it
	return &TopicView{Topic: spec.Name, TopicID: topicID(resp.ID), PartitionCount: int(resp.NumPartitions), ReplicationFactor: int(resp.ReplicationFactor)}, nil
}

// brokerErr is a broker's answer to a request about what (a topic, a
// group): the broker's own message when it sent one (as Kafka's clients
// show an ApiError: the message, else the code's description), else the
// error code's description after what. Both carry the mk sentinel of
// the code, for its exit status.
func brokerErr(what string, err error, msg string) error {
	mapped := kafkaErr(err)
	if msg == "" {
		return fmt.Errorf("%s: %w", what, mapped)
	}
	return &kafkaError{msg: msg, sentinel: sentinelOr(mapped), cause: err}
}

// AlterTopic grows the partition count (CreatePartitions) and changes
// configs (IncrementalAlterConfigs).
func (k *Kafka) AlterTopic(ctx context.Context, name string, change TopicChange) error {
	if err := coord.ValidateTopicName(name); err != nil {
		return err
	}
	defer k.cl.PurgeTopicsFromClient(name) // the next request sees the change
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.listTopic(ctx, name)
	if err != nil {
		return err
	}
	for _, key := range change.DeleteConfig {
		if _, ok := change.SetConfig[key]; ok {
			return newKafkaError(coord.ErrInvalidConfig, nil, "topic config %s is both set and deleted; do one or the other", key)
		}
	}
	if have := len(tds[name].Partitions); change.Partitions > 0 && change.Partitions != have {
		if change.Partitions < have {
			return newKafkaError(coord.ErrInvalidPartitions, nil, "topic %s has %d partitions and cannot shrink to %d: partitions can only be added", name, have, change.Partitions)
		}
		rs, err := k.adm.UpdatePartitions(ctx, change.Partitions, name)
		if err != nil {
			return k.mapErr(ctx, err)
		}
		if r := rs[name]; r.Err != nil {
			return brokerErr("alter topic "+name, r.Err, r.ErrMessage)
		}
	}
	var alter []kadm.AlterConfig
	for _, key := range slices.Sorted(maps.Keys(change.SetConfig)) {
		v := change.SetConfig[key]
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: key, Value: &v})
	}
	for _, key := range change.DeleteConfig {
		alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: key})
	}
	if len(alter) == 0 {
		return nil
	}
	rs, err := k.adm.AlterTopicConfigs(ctx, alter, name)
	if err != nil {
		return k.mapErr(ctx, err)
	}
	for _, r := range rs {
		if r.Err != nil {
			return brokerErr("alter topic "+name, r.Err, r.ErrMessage)
		}
	}
	return nil
}

// DeleteTopic deletes a topic.
func (k *Kafka) DeleteTopic(ctx context.Context, name string) error {
	if err := coord.ValidateTopicName(name); err != nil {
		return err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	defer k.cl.PurgeTopicsFromClient(name) // the next request sees it gone
	r, err := k.adm.DeleteTopic(ctx, name)
	if err != nil && r.Err == nil {
		return k.mapErr(ctx, err)
	}
	if r.Err != nil {
		if err := topicErr(name, r.Err); errors.Is(err, coord.ErrUnknownTopic) {
			return err
		}
		return brokerErr("delete topic "+name, r.Err, r.ErrMessage)
	}
	return nil
}

// detail is a topic's metadata; a topic the answer leaves out is unknown.
func detail(tds kadm.TopicDetails, name string) kadm.TopicDetail {
	td, ok := tds[name]
	if !ok {
		return kadm.TopicDetail{Topic: name, Err: kerr.UnknownTopicOrPartition}
	}
	return td
}

// noLeader is the error of a partition without a live leader, saying why
// where its metadata tells, as mk says it of a local cluster: the broker
// of its last in-sync replica is down (offline), or all its replicas are.
func noLeader(topic string, p kadm.PartitionDetail) error {
	offline := func(b int32) bool { return slices.Contains(p.OfflineReplicas, b) }
	why := ""
	switch {
	case len(p.ISR) > 0 && offline(p.ISR[0]):
		why = fmt.Sprintf(": broker %d is down", p.ISR[0])
	case len(p.Replicas) > 0 && len(p.OfflineReplicas) == len(p.Replicas):
		why = ": its replicas are down"
	}
	return newKafkaError(client.ErrNoLeader, p.Err, "partition %s-%d has no live leader%s", topic, p.Partition, why)
}
