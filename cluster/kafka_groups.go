package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
)

// A Kafka cluster's consumer groups, through kadm: DescribeGroups for
// state and members, OffsetFetch for committed offsets, ListOffsets for
// the high watermarks the lag is measured against. Kafka's DescribeGroups
// does not tell a group's generation (-1 in the view) nor a member's pid.

// Groups describes every group the cluster lists.
func (k *Kafka) Groups(ctx context.Context) ([]*GroupView, []error, error) {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	// ListGroups asks every broker: one that does not answer may hold
	// it only three quarters of the timeout (time for kgo to ask another
	// broker for the cluster's brokers), so that the groups the others
	// list are still described.
	lctx, lcancel := context.WithTimeout(ctx, k.opts.Timeout*3/4)
	defer lcancel()
	listed, err := k.adm.ListGroups(lctx)
	if err != nil && len(listed) == 0 {
		return nil, nil, k.mapErr(lctx, err)
	}
	var damaged []error
	if err != nil {
		damaged = append(damaged, k.shardErr(err))
	}
	views := []*GroupView{}
	sorted := listed.Sorted()
	for i, g := range sorted {
		if ctx.Err() != nil {
			damaged = append(damaged, fmt.Errorf("%d groups not described: %w", len(sorted)-i, k.mapErr(ctx, ctx.Err())))
			break
		}
		v, bad, err := k.viewGroup(ctx, g.Group)
		if ctx.Err() != nil && err != nil {
			damaged = append(damaged, fmt.Errorf("%d groups not described: %w", len(sorted)-i, k.mapErr(ctx, err)))
			break
		}
		damaged = append(damaged, bad...)
		if errors.Is(err, coord.ErrUnknownGroup) {
			continue // deleted since the listing
		}
		if err != nil {
			damaged = append(damaged, fmt.Errorf("group %s: %w", g.Group, k.shardErr(err)))
			continue
		}
		views = append(views, v)
	}
	return views, damaged, nil
}

// Group describes one group.
func (k *Kafka) Group(ctx context.Context, name string) (*GroupView, []error, error) {
	if err := coord.ValidateGroupName(name); err != nil {
		return nil, nil, err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	v, damaged, err := k.viewGroup(ctx, name)
	return v, damaged, k.mapErr(ctx, err)
}

func (k *Kafka) describeGroup(ctx context.Context, name string) (kadm.DescribedGroup, error) {
	dgs, err := k.adm.DescribeGroups(ctx, name)
	if err != nil && len(dgs) == 0 {
		return kadm.DescribedGroup{}, err
	}
	dg, ok := dgs[name]
	if !ok {
		return kadm.DescribedGroup{}, fmt.Errorf("group %s: not described", name)
	}
	if dg.Err != nil && !errors.Is(dg.Err, kerr.GroupIDNotFound) {
		return dg, brokerErr("group "+name, dg.Err, dg.ErrMessage)
	}
	if errors.Is(dg.Err, kerr.GroupIDNotFound) {
		dg.State = "Dead"
	}
	return dg, nil
}

// committed is a group's committed offsets.
func (k *Kafka) committed(ctx context.Context, name string) (map[coord.TopicPartition]int64, error) {
	return k.fetchCommitted(ctx, name, false)
}

// fetchCommitted is committed; with markers, it also keeps a committed
// offset below -1 (kafkajs's -2, "earliest"), which is no offset but says
// the group means to read the partition: a group's view shows it (setLag).
func (k *Kafka) fetchCommitted(ctx context.Context, name string, markers bool) (map[coord.TopicPartition]int64, error) {
	offs, err := k.adm.FetchOffsets(ctx, name)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[coord.TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[coord.TopicPartition]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && (o.At >= 0 || markers && o.At < -1) {
			out[coord.TopicPartition{Topic: o.Topic, Partition: int(o.Partition)}] = o.At
		}
	})
	return out, nil
}

// viewGroup gathers a group's view. A group the cluster does not know
// (Dead, no offsets) is coord.ErrUnknownGroup.
func (k *Kafka) viewGroup(ctx context.Context, name string) (*GroupView, []error, error) {
	dg, err := k.describeGroup(ctx, name)
	if err != nil {
		return nil, nil, unknownGroup(name, err)
	}
	committed, err := k.fetchCommitted(ctx, name, true)
	if err != nil {
		return nil, nil, unknownGroup(name, err)
	}
	if dg.State == "Dead" && len(dg.Members) == 0 && len(committed) == 0 {
		return nil, nil, newKafkaError(coord.ErrUnknownGroup, kerr.GroupIDNotFound, "unknown group %s", name)
	}
	v := &GroupView{Group: name, ProtocolType: dg.ProtocolType, State: dg.State, Generation: -1, Strategy: dg.Protocol,
		Members: []GroupMemberView{}, Offsets: []GroupPartitionView{}}
	assignedTo := map[coord.TopicPartition]GroupMemberView{}
	var topics []string
	for _, m := range dg.Members {
		row := GroupMemberView{MemberID: m.MemberID, Host: m.ClientHost, ClientID: m.ClientID, Partitions: []coord.TopicPartition{}}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				for _, p := range t.Partitions {
					row.Partitions = append(row.Partitions, coord.TopicPartition{Topic: t.Topic, Partition: int(p)})
				}
				topics = append(topics, t.Topic)
			}
		}
		if j, ok := m.Join.AsConsumer(); ok {
			topics = append(topics, j.Topics...)
		}
		slices.SortFunc(row.Partitions, compareTP)
		for _, tp := range row.Partitions {
			assignedTo[tp] = row
		}
		v.Members = append(v.Members, row)
	}
	for tp := range committed {
		topics = append(topics, tp.Topic)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	var damaged []error
	if len(topics) > 0 {
		tds, err := k.adm.ListTopicsWithInternal(ctx, topics...)
		if err != nil {
			return nil, nil, err
		}
		ends, err := k.adm.ListEndOffsets(ctx, topics...)
		if err != nil && len(ends) == 0 {
			return nil, nil, err
		}
		for _, topic := range topics {
			td := detail(tds, topic)
			if td.Err != nil {
				if !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
					damaged = append(damaged, topicErr(topic, td.Err))
				}
				continue // a deleted topic has no rows
			}
			v.Topics = append(v.Topics, topic)
			for _, p := range td.Partitions.Sorted() {
				tp := coord.TopicPartition{Topic: topic, Partition: int(p.Partition)}
				row := GroupPartitionView{Group: name, Topic: topic, Partition: tp.Partition, CurrentOffset: -1, LogEndOffset: -1}
				if o, ok := ends.Lookup(topic, p.Partition); ok && o.Err == nil {
					row.LogEndOffset = o.Offset
				}
				if c, ok := committed[tp]; ok {
					row.CurrentOffset = c
				}
				v.Lag += row.setLag()
				if m, ok := assignedTo[tp]; ok {
					row.ConsumerID, row.Host, row.ClientID = m.MemberID, m.Host, m.ClientID
				}
				v.Offsets = append(v.Offsets, row)
			}
		}
	}
	// A group with commits of a deleted topic still lists it, as the
	// local view does for a topic it has offsets for.
	for tp := range committed {
		if !slices.Contains(v.Topics, tp.Topic) {
			v.Topics = append(v.Topics, tp.Topic)
		}
	}
	slices.Sort(v.Topics)
	v.Topics = slices.Compact(v.Topics)
	return v, damaged, nil
}

// unknownGroup says GROUP_ID_NOT_FOUND as mk does.
func unknownGroup(name string, err error) error {
	if errors.Is(err, kerr.GroupIDNotFound) {
		return newKafkaError(coord.ErrUnknownGroup, err, "unknown group %s", name)
	}
	return err
}

func compareTP(a, b coord.TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return a.Partition - b.Partition
}

// RequireInactive is coord.ErrGroupActive when the group has members.
func (k *Kafka) RequireInactive(ctx context.Context, group string) error {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	dg, err := k.describeGroup(ctx, group)
	if err != nil {
		return k.mapErr(ctx, unknownGroup(group, err))
	}
	return activeErr(group, dg)
}

func activeErr(group string, dg kadm.DescribedGroup) error {
	if dg.State == "Empty" || dg.State == "Dead" {
		return nil
	}
	var ids []string
	for _, m := range dg.Members {
		ids = append(ids, m.MemberID)
	}
	return newKafkaError(coord.ErrGroupActive, kerr.NonEmptyGroup, "group %s has %d live member(s) (%s); stop them first", group, len(ids), strings.Join(ids, ", "))
}

// OffsetsForTime lists, per partition, the first offset at or after ms
// (ListOffsets by timestamp); a time before 1970 is the log start.
func (k *Kafka) OffsetsForTime(ctx context.Context, tps []coord.TopicPartition, ms int64) (map[coord.TopicPartition]int64, error) {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	var topics []string
	for _, tp := range tps {
		topics = append(topics, tp.Topic)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	var listed kadm.ListedOffsets
	var err error
	if ms < 0 {
		// -1 and -2 are ListOffsets' latest and earliest.
		listed, err = k.adm.ListStartOffsets(ctx, topics...)
	} else {
		listed, err = k.adm.ListOffsetsAfterMilli(ctx, ms, topics...)
	}
	if err != nil && len(listed) == 0 {
		return nil, k.mapErr(ctx, err)
	}
	out := map[coord.TopicPartition]int64{}
	for _, tp := range tps {
		o, ok := listed.Lookup(tp.Topic, int32(tp.Partition))
		if !ok {
			return nil, newKafkaError(coord.ErrUnknownTopic, kerr.UnknownTopicOrPartition, "unknown topic %s", tp.Topic)
		}
		if o.Err != nil {
			return nil, fmt.Errorf("partition %s: %w", tp, kafkaErr(o.Err))
		}
		out[tp] = o.Offset
	}
	return out, nil
}

// SetGroupOffsets commits offsets for a group without members (Kafka's
// admin OffsetCommit, as kafka-consumer-groups.sh --reset-offsets).
func (k *Kafka) SetGroupOffsets(ctx context.Context, group string, offsets map[coord.TopicPartition]int64) error {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	dg, err := k.describeGroup(ctx, group)
	if err != nil {
		return k.mapErr(ctx, err)
	}
	if err := activeErr(group, dg); err != nil {
		return err
	}
	os := kadm.Offsets{}
	for tp, off := range offsets {
		os.Add(kadm.Offset{Topic: tp.Topic, Partition: int32(tp.Partition), At: off, LeaderEpoch: -1})
	}
	if err := k.adm.CommitAllOffsets(ctx, group, os); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
			return newKafkaError(coord.ErrGroupActive, err, "group %s has live members; stop them first", group)
		}
		return k.mapErr(ctx, err)
	}
	return nil
}

// DeleteGroup deletes a group without members.
func (k *Kafka) DeleteGroup(ctx context.Context, group string) error {
	if err := coord.ValidateGroupName(group); err != nil {
		return err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	r, err := k.adm.DeleteGroup(ctx, group)
	if err != nil && r.Err == nil {
		return k.mapErr(ctx, err)
	}
	switch {
	case r.Err == nil:
		return nil
	case errors.Is(r.Err, kerr.GroupIDNotFound):
		return newKafkaError(coord.ErrUnknownGroup, r.Err, "unknown group %s", group)
	case errors.Is(r.Err, kerr.NonEmptyGroup):
		if dg, err := k.describeGroup(ctx, group); err == nil {
			if aerr := activeErr(group, dg); aerr != nil {
				return aerr
			}
		}
		return newKafkaError(coord.ErrGroupActive, r.Err, "group %s has live members; stop them first", group)
	}
	return brokerErr("delete group "+group, r.Err, r.ErrMessage)
}

// DeleteGroupOffsets deletes a group's committed offsets of a topic
// (OffsetDelete; Kafka refuses while a member subscribes to the topic).
func (k *Kafka) DeleteGroupOffsets(ctx context.Context, group, topic string) error {
	if err := coord.ValidateGroupName(group); err != nil {
		return err
	}
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	v, _, err := k.viewGroup(ctx, group)
	if err != nil {
		return k.mapErr(ctx, err)
	}
	var parts []int32
	for _, r := range v.Offsets {
		if r.Topic == topic && r.CurrentOffset >= 0 {
			parts = append(parts, int32(r.Partition))
		}
	}
	if len(parts) == 0 {
		return newKafkaError(coord.ErrUnknownTopic, kerr.UnknownTopicOrPartition, "group %s has no offsets for topic %s", group, topic)
	}
	rs, err := k.adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: setOf(parts)})
	if err != nil {
		if errors.Is(err, kerr.NonEmptyGroup) || errors.Is(err, kerr.GroupSubscribedToTopic) {
			return newKafkaError(coord.ErrGroupActive, err, "group %s has live members consuming %s; stop them first", group, topic)
		}
		return k.mapErr(ctx, err)
	}
	for _, p := range parts {
		if perr, ok := rs.Lookup(topic, p); ok && perr != nil {
			if errors.Is(perr, kerr.GroupSubscribedToTopic) {
				return newKafkaError(coord.ErrGroupActive, perr, "group %s has live members consuming %s; stop them first", group, topic)
			}
			return fmt.Errorf("delete offsets of %s-%d: %w", topic, p, kafkaErr(perr))
		}
	}
	return nil
}

func setOf(ps []int32) map[int32]struct{} {
	m := map[int32]struct{}{}
	for _, p := range ps {
		m[p] = struct{}{}
	}
	return m
}
