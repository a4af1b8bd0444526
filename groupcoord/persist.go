package groupcoord

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
)

// What the coordinator writes, and when. The group's file (group.json's
// "kafka" object, coord/group_kafka.go) is written when:
//
//   - the group gets its first member (Empty -> PreparingRebalance): from
//     then on mk's own consumers see the group is taken, and this write
//     checks, under the group's lock, that none of them is live;
//   - a generation starts (CompletingRebalance): generations only grow,
//     even across coordinators;
//   - the leader's assignment arrives (Stable), with every member's
//     assignment: what a successor needs to go on without a rebalance;
//   - a static member is replaced while the group is stable;
//   - the group becomes Empty;
//   - a coordinator takes the group over (the epoch, which fences the one
//     before).
//
// Heartbeats, joins during a rebalance and leaves are not written: they
// end in one of the writes above. A successor that finds a group in a
// rebalance runs the rebalance again.

// firstMembers is the check of the write that gives a group its first
// members: mk's own consumers must not be live members.
var firstMembers = coord.KafkaUpdate{RequireNoMkMembers: true}

// plainUpdate is every other write's: the fence alone.
var plainUpdate = coord.KafkaUpdate{}

// consumerProtocolType is the protocol type of Kafka's consumers.
const consumerProtocolType = "consumer"

// persist writes the group as it is in memory, its state written as label,
// with the checks of opts. A group this coordinator has not written yet is
// taken over at the next epoch. On ErrCoordinatorFenced the group is
// unloaded (another coordinator runs it) and NOT_COORDINATOR returned;
// INCONSISTENT_GROUP_PROTOCOL when mk's own members are live and opts asked
// for none; COORDINATOR_NOT_AVAILABLE when the file cannot be written.
func (g *group) persist(label State, opts coord.KafkaUpdate) *kerr.Error {
	co := g.co
	k := g.snapshot(label)
	generation := int64(g.generation)
	opts.TakeOver = g.fence.Coordinator != co.me || g.fence.Epoch == 0
	written, stamp, err := co.c.UpdateKafkaGroup(g.name, co.me, g.fence, opts, func(fg *coord.Group) error {
		*fg.Kafka = k
		fg.Generation = max(fg.Generation, generation)
		return nil
	})
	switch {
	case err == nil:
		g.fence, g.stamp = written.Fence(), stamp
		return nil
	case errors.Is(err, coord.ErrCoordinatorFenced):
		co.logf("group %s: %v: giving it up", g.name, err)
		g.unload(kerr.NotCoordinator)
		return kerr.NotCoordinator
	case errors.Is(err, coord.ErrGroupKind):
		return kerr.InconsistentGroupProtocol
	}
	co.logf("group %s: cannot write its state: %v", g.name, err)
	return kerr.CoordinatorNotAvailable
}

// snapshot is the group's "kafka" object (the coordinator fields are
// UpdateKafkaGroup's).
func (g *group) snapshot(label State) coord.KafkaGroup {
	k := coord.KafkaGroup{
		ProtocolType: g.protocolType,
		State:        label.String(),
		Protocol:     g.protocol,
		Leader:       g.leader,
		StateChanged: g.stateChanged.UTC().Format(time.RFC3339Nano),
		Members:      make([]coord.KafkaMember, 0, len(g.members)),
	}
	for _, m := range g.members {
		km := coord.KafkaMember{
			ID:                 m.id,
			InstanceID:         m.instanceID,
			ClientID:           m.clientID,
			Host:               m.clientHost,
			SessionTimeoutMs:   int32(m.sessionTimeout.Milliseconds()),
			RebalanceTimeoutMs: int32(m.rebalanceTimeout.Milliseconds()),
		}
		if label == Stable {
			// Before the leader's SyncGroup a generation has no
			// assignment; what members hold is the last one's.
			km.Assignment = m.assignment
		}
		for _, p := range m.protocols {
			km.Protocols = append(km.Protocols, coord.KafkaProtocol{Name: p.Name, Metadata: p.Metadata})
		}
		if g.protocolType == consumerProtocolType {
			meta := m.metadata(g.protocol)
			if g.protocol == "" && len(m.protocols) > 0 {
				meta = m.protocols[0].Metadata
			}
			km.Topics, _ = decodeSubscription(meta)
			km.Assigned, _ = decodeAssignment(km.Assignment)
		}
		k.Members = append(k.Members, km)
	}
	return k
}

// loadFrom makes g the group of file fg (which lists members, and was
// written as stamp): a stable group stays stable, any other state starts a
// rebalance.
func (g *group) loadFrom(fg *coord.Group, stamp coord.GroupStamp) {
	k := fg.Kafka
	g.loaded = true
	g.fence, g.stamp = fg.Fence(), stamp
	g.protocolType = k.ProtocolType
	g.protocol = k.Protocol
	g.generation = int32(fg.Generation)
	g.leader = k.Leader
	g.stateChanged = g.co.clock.Now()
	if t, err := time.Parse(time.RFC3339Nano, k.StateChanged); err == nil {
		g.stateChanged = t
	}
	for _, km := range k.Members {
		m := &member{
			id:               km.ID,
			instanceID:       km.InstanceID,
			clientID:         km.ClientID,
			clientHost:       km.Host,
			sessionTimeout:   time.Duration(km.SessionTimeoutMs) * time.Millisecond,
			rebalanceTimeout: time.Duration(km.RebalanceTimeoutMs) * time.Millisecond,
			protocolType:     k.ProtocolType,
			assignment:       km.Assignment,
		}
		for _, p := range km.Protocols {
			m.protocols = append(m.protocols, Protocol{Name: p.Name, Metadata: p.Metadata})
		}
		g.members = append(g.members, m)
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
	}
	if g.get(g.leader) == nil && len(g.members) > 0 {
		g.leader = g.members[0].id
	}
	g.state = parseState(k.State)
	for _, m := range g.members {
		g.scheduleExpiry(m, m.sessionTimeout)
	}
	if g.state != Stable {
		g.state = PreparingRebalance
		g.scheduleJoin(false, g.rebalanceTimeout(), 0)
	}
}

// decodeSubscription reads the topics of a consumer's subscription (the
// consumer protocol's member metadata, any version).
func decodeSubscription(b []byte) ([]string, bool) {
	var m kmsg.ConsumerMemberMetadata
	if err := m.ReadFrom(b); err != nil {
		return nil, false
	}
	return m.Topics, true
}

// decodeAssignment reads a consumer's assignment.
func decodeAssignment(b []byte) ([]coord.TopicPartition, bool) {
	if len(b) == 0 {
		return nil, true
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		return nil, false
	}
	var out []coord.TopicPartition
	for _, t := range a.Topics {
		for _, p := range t.Partitions {
			out = append(out, coord.TopicPartition{Topic: t.Topic, Partition: int(p)})
		}
	}
	return out, true
}
