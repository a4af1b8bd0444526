package groupcoord

import (
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
)

// Describe is DescribeGroups of one group. A group that does not exist is
// reported Dead with found false (v6+ answer GROUP_ID_NOT_FOUND). mk's own
// groups are described too, with protocol type "mk".
func (co *Coordinator) Describe(group string) (s GroupSummary, found bool) {
	if err := co.validateGroup(group); err != nil {
		return GroupSummary{Err: err}, true
	}
	g, err := co.lookup(group, false)
	if err != nil {
		return GroupSummary{Err: err}, true
	}
	if g == nil {
		return GroupSummary{State: Dead.String()}, false
	}
	defer g.mu.Unlock()
	if g.state == Empty {
		if fg, err := co.c.Group(group); err == nil && len(co.c.LiveMkMembers(fg)) > 0 {
			return co.describeMk(fg), true
		}
	}
	s = GroupSummary{State: g.state.String(), ProtocolType: g.protocolType}
	stable := g.state == Stable
	if stable {
		s.Protocol = g.protocol
	}
	for _, m := range g.members {
		ms := MemberSummary{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost}
		if stable {
			ms.Metadata, ms.Assignment = m.metadata(g.protocol), m.assignment
		}
		s.Members = append(s.Members, ms)
	}
	return s, true
}

// describeMk describes a group of mk's own consumers.
func (co *Coordinator) describeMk(fg *coord.Group) GroupSummary {
	live := co.c.LiveMkMembers(fg)
	s := GroupSummary{State: mkState(co.c, fg, live), ProtocolType: coord.ProtocolTypeMk, Protocol: fg.Strategy}
	for _, m := range fg.Members {
		if slices.Contains(live, m.ID) {
			s.Members = append(s.Members, MemberSummary{MemberID: m.ID, ClientID: m.ClientID, ClientHost: m.Host})
		}
	}
	return s
}

// mkState is an mk group's state with Kafka's names: Empty without live
// members, PreparingRebalance while a member is missing or a partition is
// not owned by the member it is assigned to, else Stable.
func mkState(c *coord.Cluster, fg *coord.Group, live []string) string {
	if len(live) == 0 {
		return coord.KafkaEmpty
	}
	if len(live) != len(fg.Members) {
		return coord.KafkaPreparingRebalance
	}
	for id, tps := range fg.Assignment {
		for _, tp := range tps {
			if c.Owner(fg.Name, tp) != id {
				return coord.KafkaPreparingRebalance
			}
		}
	}
	return coord.KafkaStable
}

// List is ListGroups: the groups this broker coordinates (Kafka clients
// ask every broker and merge), filtered by state and type when asked
// (case-insensitive, as Kafka).
func (co *Coordinator) List(states, types []string) ([]GroupOverview, *kerr.Error) {
	co.mu.Lock()
	closed := co.closed
	co.mu.Unlock()
	if closed {
		return nil, kerr.CoordinatorNotAvailable
	}
	live, err := co.liveBrokers()
	if err != nil || len(live) == 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	names, err := co.c.GroupNames()
	if err != nil {
		co.logf("list groups: %v", err)
		return nil, kerr.CoordinatorNotAvailable
	}
	var out []GroupOverview
	for _, name := range names {
		if chooseCoordinator(name, live) != co.me {
			continue
		}
		o, ok := co.overview(name)
		if !ok {
			continue
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, o.State) }) {
			continue
		}
		if len(types) > 0 && !slices.ContainsFunc(types, func(s string) bool { return strings.EqualFold(s, o.Type) }) {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// overview is one group's line in ListGroups: from memory for a group this
// coordinator runs with members, else from its file.
func (co *Coordinator) overview(name string) (GroupOverview, bool) {
	co.mu.Lock()
	g := co.groups[name]
	co.mu.Unlock()
	if g != nil {
		g.mu.Lock()
		if g.loaded && g.state != Empty {
			o := GroupOverview{Group: name, ProtocolType: g.protocolType, State: g.state.String(), Type: "classic"}
			g.mu.Unlock()
			return o, true
		}
		g.mu.Unlock()
	}
	fg, err := co.c.Group(name)
	if err != nil {
		return GroupOverview{}, false
	}
	o := GroupOverview{Group: name, ProtocolType: fg.ProtocolType(), Type: "classic"}
	switch live := co.c.LiveMkMembers(fg); {
	case fg.HasKafkaMembers():
		o.State = fg.Kafka.State
	case len(live) > 0:
		o.State, o.Type = mkState(co.c, fg, live), coord.ProtocolTypeMk
	default:
		o.State = coord.KafkaEmpty
	}
	return o, true
}

// Delete is DeleteGroups of one group: an empty group is removed with its
// offsets; one with members of either kind is NON_EMPTY_GROUP.
func (co *Coordinator) Delete(group string) *kerr.Error {
	if err := co.validateGroup(group); err != nil {
		return err
	}
	g, err := co.lookup(group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if g.state != Empty {
		return kerr.NonEmptyGroup
	}
	switch err := co.c.DeleteKafkaGroup(group, g.fence); {
	case errors.Is(err, coord.ErrGroupActive):
		return kerr.NonEmptyGroup
	case errors.Is(err, coord.ErrCoordinatorFenced):
		g.unload(kerr.NotCoordinator)
		return kerr.NotCoordinator
	case errors.Is(err, coord.ErrUnknownGroup):
		g.unload(kerr.UnknownMemberID)
		return kerr.GroupIDNotFound
	case err != nil:
		co.logf("group %s: cannot delete: %v", group, err)
		return kerr.CoordinatorNotAvailable
	}
	co.logf("group %s: deleted", group)
	g.unload(kerr.UnknownMemberID)
	return nil
}
