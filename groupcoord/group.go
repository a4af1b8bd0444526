package groupcoord

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
)

// State is a group's state, with Kafka's names. The transitions are
// Kafka's (GroupMetadata.scala):
//
//	Empty               -> PreparingRebalance (a member joins)
//	PreparingRebalance  -> CompletingRebalance (every member rejoined, or the rebalance timeout)
//	                    -> Empty (no member left)
//	CompletingRebalance -> Stable (the leader's SyncGroup)
//	                    -> PreparingRebalance (a join, a leave, a failed member)
//	Stable              -> PreparingRebalance (a join with new metadata or of the leader,
//	                                           a leave, a failed member)
//
// Dead is a group this coordinator no longer runs (deleted, or handed to
// another broker): requests that find it look the group up again.
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	return [...]string{coord.KafkaEmpty, coord.KafkaPreparingRebalance, coord.KafkaCompletingRebalance, coord.KafkaStable, coord.KafkaDead}[s]
}

func parseState(s string) State {
	switch s {
	case coord.KafkaPreparingRebalance:
		return PreparingRebalance
	case coord.KafkaCompletingRebalance:
		return CompletingRebalance
	case coord.KafkaStable:
		return Stable
	}
	return Empty
}

// Protocol is one protocol a member supports (for consumers, an assignor
// such as range or cooperative-sticky) with the member's metadata for it.
type Protocol struct {
	Name     string
	Metadata []byte
}

// member is one member of a group, as the coordinator holds it.
type member struct {
	id         string
	instanceID string // group.instance.id, "" for a dynamic member
	clientID   string
	clientHost string

	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []Protocol // in the member's order of preference
	assignment       []byte

	// join and sync are the parked JoinGroup and SyncGroup of the member,
	// nil when none waits. Each is answered once.
	join chan<- JoinResult
	sync chan<- SyncResult

	// isNew: joined in the rebalance under way, not yet given a
	// generation (its expiry is NewMemberJoinTimeout, not the session).
	isNew bool
	// expiry is the session timer; token tells a stale firing apart.
	expiry      timer
	expiryToken uint64
}

func (m *member) awaitingJoin() bool { return m.join != nil }
func (m *member) awaitingSync() bool { return m.sync != nil }

func (m *member) answerJoin(res JoinResult) {
	if m.join != nil {
		m.join <- res
		m.join = nil
	}
}

func (m *member) answerSync(res SyncResult) {
	if m.sync != nil {
		m.sync <- res
		m.sync = nil
	}
}

// metadata is the member's metadata for protocol.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches: the member would join with the same protocols and metadata, in
// the same order (Kafka's MemberMetadata.matches).
func (m *member) matches(ps []Protocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b Protocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// vote is the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.Name] {
			return p.Name
		}
	}
	return ""
}

// group is one group this coordinator knows. The object lives as long as
// the coordinator; loaded says whether it holds the group now. Every field
// is guarded by mu, which is held while the group's file is written (the
// file's own lock is taken inside it, never the other way round).
type group struct {
	co   *Coordinator
	name string
	mu   sync.Mutex

	loaded bool
	// incarnation grows at every load and unload: a timer set in an older
	// one does nothing.
	incarnation uint64
	// fence is the coordinator and epoch the group's file held when this
	// coordinator last read or wrote it; stamp is the version of the file
	// it wrote last (see refresh).
	fence coord.KafkaFence
	stamp coord.GroupStamp

	state        State
	stateChanged time.Time
	protocolType string
	protocol     string // chosen for the generation; "" when none
	generation   int32
	leader       string
	members      []*member         // in the order they joined
	static       map[string]string // group.instance.id -> member id
	// pending holds the member ids handed out with MEMBER_ID_REQUIRED
	// (KIP-394) that have not joined with them yet.
	pending map[string]timer
	// pendingSync: members of the generation that have not sent their
	// SyncGroup yet (KIP-814's removal of members that never sync).
	pendingSync map[string]bool
	// newMemberAdded: a member joined during the initial rebalance delay,
	// which then waits another delay (group.initial.rebalance.delay.ms).
	newMemberAdded bool

	joinTimer    timer
	joinToken    uint64
	initialDelay bool // joinTimer is the initial delay, not the rebalance timeout
	syncTimer    timer
	syncToken    uint64
}

func (g *group) reset() {
	g.incarnation++
	g.loaded = false
	g.fence = coord.KafkaFence{}
	g.stamp = coord.GroupStamp{}
	g.state = Empty
	g.protocolType, g.protocol, g.leader = "", "", ""
	g.generation = 0
	g.members = nil
	g.static = map[string]string{}
	g.pending = map[string]timer{}
	g.pendingSync = map[string]bool{}
	g.newMemberAdded = false
	g.joinTimer, g.syncTimer = nil, nil
	g.initialDelay = false
}

func (g *group) get(id string) *member {
	for _, m := range g.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (g *group) transition(s State) {
	g.state = s
	g.stateChanged = g.co.clock.Now()
}

// add makes m a member. The first member sets the group's protocol type
// and is its first leader.
func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members = append(g.members, m)
	if m.instanceID != "" {
		g.static[m.instanceID] = m.id
	}
	g.removePending(m.id)
}

// remove drops member id; the leadership passes to the longest-standing
// member left.
func (g *group) remove(id string) {
	i := slices.IndexFunc(g.members, func(m *member) bool { return m.id == id })
	if i >= 0 {
		m := g.members[i]
		g.members = slices.Delete(g.members, i, i+1)
		if m.instanceID != "" && g.static[m.instanceID] == id {
			delete(g.static, m.instanceID)
		}
		g.stopExpiry(m)
	}
	if g.leader == id {
		g.leader = ""
		if len(g.members) > 0 {
			g.leader = g.members[0].id
		}
	}
	g.removePending(id)
	delete(g.pendingSync, id)
}

func (g *group) removePending(id string) {
	if t, ok := g.pending[id]; ok {
		if t != nil {
			t.Stop()
		}
		delete(g.pending, id)
	}
}

// supportsProtocols: a joining member fits the group. An empty group takes
// any non-empty protocol type with at least one protocol; otherwise the
// type must be the group's and one protocol must be one every member
// supports.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if g.state == Empty {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportCount(p.Name) == len(g.members) {
			return true
		}
	}
	return false
}

func (g *group) supportCount(protocol string) int {
	n := 0
	for _, m := range g.members {
		if slices.ContainsFunc(m.protocols, func(p Protocol) bool { return p.Name == protocol }) {
			n++
		}
	}
	return n
}

// selectProtocol chooses the generation's protocol as Kafka does: among the
// protocols every member supports, each member votes for the one it
// prefers most, and the most votes win (ties go to the name first in
// order, so that every run chooses alike).
func (g *group) selectProtocol() string {
	candidates := map[string]bool{}
	if len(g.members) > 0 {
		for _, p := range g.members[0].protocols {
			if g.supportCount(p.Name) == len(g.members) {
				candidates[p.Name] = true
			}
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		if v := m.vote(candidates); v != "" {
			votes[v]++
		}
	}
	best := ""
	for name, n := range votes {
		if best == "" || n > votes[best] || n == votes[best] && name < best {
			best = name
		}
	}
	return best
}

func (g *group) hasAllMembersJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if !m.awaitingJoin() {
			return false
		}
	}
	return true
}

// electJoinedLeader makes sure the leader is a member that rejoined: if the
// leader did not, another member that did leads. False when no member
// rejoined (or there are none).
func (g *group) electJoinedLeader() bool {
	if l := g.get(g.leader); l != nil && l.awaitingJoin() {
		return true
	}
	for _, m := range g.members {
		if m.awaitingJoin() {
			g.leader = m.id
			return true
		}
	}
	return false
}

// rebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// validateCurrentMember checks that memberID is a member and, for a static
// member, that its group.instance.id maps to memberID (else the request
// comes from a fenced duplicate of the instance).
func (g *group) validateCurrentMember(memberID, instanceID string) *kerr.Error {
	if instanceID != "" {
		current, ok := g.static[instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case current != memberID:
			return kerr.FencedInstanceID
		}
		return nil
	}
	if g.get(memberID) == nil {
		return kerr.UnknownMemberID
	}
	return nil
}

// subscribedTopics is the union of the topics the members subscribe to,
// for a group of the consumer protocol; ok is false when it is not known
// (another protocol type, or a subscription that does not parse).
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	if g.protocolType != consumerProtocolType {
		return nil, false
	}
	topics = map[string]bool{}
	for _, m := range g.members {
		meta := m.metadata(g.protocol)
		if g.protocol == "" && len(m.protocols) > 0 {
			meta = m.protocols[0].Metadata
		}
		ts, ok := decodeSubscription(meta)
		if !ok {
			return nil, false
		}
		for _, t := range ts {
			topics[t] = true
		}
	}
	return topics, true
}
