package cluster

import (
	"context"
	"errors"
	"slices"

	"mk/coord"
)

// Groups describes every readable group; the damaged ones are named.
func (l *Local) Groups(context.Context) ([]*GroupView, []error, error) {
	groups, damaged, err := l.c.GroupsReadable()
	if err != nil {
		return nil, nil, err
	}
	views := []*GroupView{}
	for _, g := range groups {
		v, bad, err := l.viewGroup(g.Name)
		if err != nil {
			damaged = append(damaged, err) // damaged since the listing
			continue
		}
		damaged = append(damaged, bad...)
		views = append(views, v)
	}
	return views, damaged, nil
}

// Group describes one group.
func (l *Local) Group(_ context.Context, name string) (*GroupView, []error, error) {
	return l.viewGroup(name)
}

// viewGroup gathers a group's state, members, offsets and lag. The topic
// and offsets files that cannot be read are returned, and their rows left
// out.
func (l *Local) viewGroup(name string) (*GroupView, []error, error) {
	c := l.c
	g, err := c.Group(name)
	if err != nil {
		return nil, nil, err
	}
	live, err := c.LiveMembers(name)
	if err != nil {
		return nil, nil, err
	}
	v := &GroupView{Group: name, ProtocolType: g.ProtocolType(), Generation: g.Generation, Strategy: g.Strategy, Members: []GroupMemberView{}, Offsets: []GroupPartitionView{}}
	assignedTo := map[coord.TopicPartition]GroupMemberView{}
	var subscribed []string
	if g.HasKafkaMembers() {
		subscribed = viewKafkaMembers(g, v, assignedTo)
	} else {
		stable := true
		for _, m := range g.Members {
			if !slices.Contains(live, m.ID) {
				continue
			}
			row := GroupMemberView{m.ID, m.Host, m.ClientID, m.Pid, g.Assignment[m.ID]}
			v.Members = append(v.Members, row)
			for _, tp := range g.Assignment[m.ID] {
				assignedTo[tp] = row
				if c.Owner(name, tp) != m.ID {
					stable = false
				}
			}
		}
		switch {
		case len(v.Members) == 0:
			v.State = "Empty"
		case !stable || len(live) != len(g.Members):
			v.State = "Rebalancing"
		default:
			v.State = "Stable"
		}
		if len(v.Members) > 0 {
			subscribed = g.Topics()
		}
	}
	topics, err := c.CommittedTopics(name)
	if err != nil {
		return nil, nil, err
	}
	topics = append(topics, subscribed...)
	slices.Sort(topics)
	v.Topics = slices.Compact(topics)
	var damaged []error
	for _, topic := range v.Topics {
		t, err := c.Topic(topic)
		if errors.Is(err, coord.ErrUnknownTopic) {
			continue
		}
		if err != nil {
			damaged = append(damaged, err)
			continue
		}
		committed, err := c.CommittedOffsets(name, topic)
		if err != nil {
			damaged = append(damaged, err)
			continue
		}
		tv := l.viewTopic(t)
		for _, p := range tv.Partitions {
			row := GroupPartitionView{Group: name, Topic: topic, Partition: p.Partition, CurrentOffset: -1, LogEndOffset: p.HighWatermark}
			if cm, ok := committed[p.Partition]; ok {
				row.CurrentOffset = cm.Offset
			}
			v.Lag += row.setLag()
			if m, ok := assignedTo[coord.TopicPartition{Topic: topic, Partition: p.Partition}]; ok {
				row.ConsumerID, row.Host, row.ClientID = m.MemberID, m.Host, m.ClientID
			}
			v.Offsets = append(v.Offsets, row)
		}
	}
	return v, damaged, nil
}

// RequireInactive is coord.ErrGroupActive, naming the live members.
func (l *Local) RequireInactive(_ context.Context, group string) error {
	return l.c.RequireNoLiveMembers(group)
}

// SetGroupOffsets writes the group's committed offsets.
func (l *Local) SetGroupOffsets(_ context.Context, group string, offsets map[coord.TopicPartition]int64) error {
	return l.c.SetOffsets(group, offsets)
}

// DeleteGroup deletes a group (even one whose group.json is damaged).
func (l *Local) DeleteGroup(_ context.Context, group string) error {
	return l.c.DeleteGroup(group)
}

// DeleteGroupOffsets deletes a group's committed offsets of a topic.
func (l *Local) DeleteGroupOffsets(_ context.Context, group, topic string) error {
	return l.c.DeleteGroupOffsets(group, topic)
}
