package groupcoord

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Join is a JoinGroup. It blocks while the member is parked in the
// rebalance, until the generation starts (or the member is told to join
// again), as Kafka holds the request; ctx ending (the broker stopping)
// answers NOT_COORDINATOR.
func (co *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	if err := co.validateGroup(req.Group); err != nil {
		return joinError(req.MemberID, err)
	}
	if req.SessionTimeout < co.cfg.MinSessionTimeout || req.SessionTimeout > co.cfg.MaxSessionTimeout {
		return joinError(req.MemberID, kerr.InvalidSessionTimeout)
	}
	// A group is made by a member joining without an id; a member naming
	// an id of a group that does not exist is unknown.
	g, err := co.lookup(req.Group, req.MemberID == "")
	if err != nil {
		return joinError(req.MemberID, err)
	}
	if g == nil {
		return joinError(req.MemberID, kerr.UnknownMemberID)
	}
	ch := make(chan JoinResult, 1)
	res, parked := func() (JoinResult, bool) {
		defer g.mu.Unlock()
		res, parked := g.join(req, ch)
		if g.loaded && g.state == PreparingRebalance {
			g.tryCompleteJoin()
		}
		return res, parked
	}()
	if !parked {
		return res
	}
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
		return joinError(req.MemberID, kerr.NotCoordinator)
	}
}

// join handles a JoinGroup under g.mu. parked means the answer comes on ch.
func (g *group) join(req JoinRequest, ch chan<- JoinResult) (res JoinResult, parked bool) {
	if req.MemberID == "" {
		return g.joinNewMember(req, ch)
	}
	return g.joinCurrentMember(req, ch)
}

func (g *group) joinNewMember(req JoinRequest, ch chan<- JoinResult) (JoinResult, bool) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return joinError("", kerr.InconsistentGroupProtocol), false
	}
	if g.state == Empty && g.hasLiveMkMembers() {
		// A group is of one kind: mk's own consumers hold it.
		return joinError("", kerr.InconsistentGroupProtocol), false
	}
	id := newMemberID(req.ClientID, req.InstanceID)
	if req.InstanceID != "" {
		if old, ok := g.static[req.InstanceID]; ok && g.get(old) != nil {
			return g.replaceStaticMember(old, id, req, ch)
		}
		return g.addMemberAndRebalance(id, req, ch)
	}
	if req.RequireKnownMemberID {
		g.addPending(id, req.SessionTimeout)
		return joinError(id, kerr.MemberIDRequired), false
	}
	return g.addMemberAndRebalance(id, req, ch)
}

func (g *group) joinCurrentMember(req JoinRequest, ch chan<- JoinResult) (JoinResult, bool) {
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return joinError(req.MemberID, kerr.InconsistentGroupProtocol), false
	}
	if _, ok := g.pending[req.MemberID]; ok {
		// The id this coordinator handed out with MEMBER_ID_REQUIRED.
		return g.addMemberAndRebalance(req.MemberID, req, ch)
	}
	if err := g.validateCurrentMember(req.MemberID, req.InstanceID); err != nil {
		return joinError(req.MemberID, err), false
	}
	m := g.get(req.MemberID)
	switch g.state {
	case PreparingRebalance:
		g.updateMemberAndRebalance(m, req, ch, "member "+m.id+" joins during the rebalance")
		return JoinResult{}, true
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			// It missed the answer to its join: tell it again.
			return g.joinResultFor(m, g.leader == m.id), false
		}
		g.updateMemberAndRebalance(m, req, ch, "member "+m.id+" changed its metadata")
		return JoinResult{}, true
	case Stable:
		if g.leader == m.id {
			// The leader may rejoin for changes the coordinator cannot see
			// (a topic's partitions, say): a new generation.
			g.updateMemberAndRebalance(m, req, ch, "leader "+m.id+" rejoins")
			return JoinResult{}, true
		}
		if !m.matches(req.Protocols) {
			g.updateMemberAndRebalance(m, req, ch, "member "+m.id+" changed its metadata")
			return JoinResult{}, true
		}
		return g.joinResultFor(m, false), false
	}
	return joinError(req.MemberID, kerr.UnknownMemberID), false
}

// addMemberAndRebalance adds a new member, parked until the generation
// starts, and starts a rebalance if none is under way. The group's first
// member is written to its file first (and refused if mk's own consumers
// hold the group).
func (g *group) addMemberAndRebalance(id string, req JoinRequest, ch chan<- JoinResult) (JoinResult, bool) {
	m := &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         req.ClientID,
		clientHost:       req.ClientHost,
		sessionTimeout:   req.SessionTimeout,
		rebalanceTimeout: req.RebalanceTimeout,
		protocolType:     req.ProtocolType,
		protocols:        req.Protocols,
		isNew:            true,
	}
	if g.state == PreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m)
	if g.state == Empty {
		if err := g.persist(PreparingRebalance, firstMembers); err != nil {
			if g.loaded {
				g.remove(m.id)
			}
			return joinError(joinErrorMemberID(req), err), false
		}
	}
	m.join = ch
	// A new member cannot heartbeat while it waits: its JoinGroup is
	// bounded by NewMemberJoinTimeout instead of its session.
	g.scheduleExpiry(m, NewMemberJoinTimeout)
	g.maybePrepareRebalance("member " + id + " joins")
	return JoinResult{}, true
}

// joinErrorMemberID is the member id an error to a joining member carries:
// the id it sent (one handed out with MEMBER_ID_REQUIRED), else none.
func joinErrorMemberID(req JoinRequest) string { return req.MemberID }

// updateMemberAndRebalance parks a known member's join with its new
// metadata and starts a rebalance if none is under way.
func (g *group) updateMemberAndRebalance(m *member, req JoinRequest, ch chan<- JoinResult, reason string) {
	m.protocols = req.Protocols
	m.rebalanceTimeout = req.RebalanceTimeout
	m.sessionTimeout = req.SessionTimeout
	// A member has one join at a time; an older one (from a connection
	// the client gave up on) is told to join again.
	m.answerJoin(joinError(m.id, kerr.RebalanceInProgress))
	m.join = ch
	g.maybePrepareRebalance(reason)
}

// replaceStaticMember: a static member (group.instance.id) joins without
// its member id, as after a restart. It takes over the old member's place
// under a new id, and the old id is fenced (FENCED_INSTANCE_ID). In a
// stable group whose protocol this does not change there is no rebalance
// (KIP-345): the member gets its old assignment back.
func (g *group) replaceStaticMember(oldID, newID string, req JoinRequest, ch chan<- JoinResult) (JoinResult, bool) {
	m := g.get(oldID)
	currentLeader := g.leader
	m.answerJoin(joinError(oldID, kerr.FencedInstanceID))
	m.answerSync(syncError(kerr.FencedInstanceID))
	old := *m
	rename := func(from, to string) {
		m.id = to
		g.static[m.instanceID] = to
		if g.leader == from {
			g.leader = to
		}
		if g.pendingSync[from] {
			delete(g.pendingSync, from)
			g.pendingSync[to] = true
		}
	}
	rename(oldID, newID)
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.protocols = req.Protocols
	m.rebalanceTimeout, m.sessionTimeout = req.RebalanceTimeout, req.SessionTimeout
	g.scheduleExpiry(m, m.sessionTimeout)
	switch g.state {
	case Stable:
		if g.selectProtocol() != g.protocol {
			m.join = ch
			g.prepareRebalance("static member " + m.instanceID + " rejoins with other protocols")
			return JoinResult{}, true
		}
		if err := g.persist(Stable, plainUpdate); err != nil {
			if !g.loaded {
				return joinError("", err), false
			}
			rename(newID, oldID)
			m.clientID, m.clientHost, m.protocols = old.clientID, old.clientHost, old.protocols
			m.rebalanceTimeout, m.sessionTimeout = old.rebalanceTimeout, old.sessionTimeout
			return joinError("", err), false
		}
		g.co.logf("group %s: static member %s rejoins as %s without a rebalance", g.name, m.instanceID, newID)
		if req.SupportSkipAssignment {
			// KIP-814: the leader learns it leads, without assigning anew.
			isLeader := g.leader == newID
			res := g.joinResultFor(m, isLeader)
			res.SkipAssignment = isLeader
			return res, false
		}
		// Older clients are told the old leader id, so that a rejoining
		// leader does not compute an assignment a stable group would
		// not hand out.
		res := g.joinResultFor(m, false)
		res.Leader = currentLeader
		return res, false
	case CompletingRebalance:
		// The leader may be assigning to the old id: start over.
		m.join = ch
		g.prepareRebalance("static member " + m.instanceID + " rejoins during the assignment")
		return JoinResult{}, true
	}
	m.join = ch
	return JoinResult{}, true
}

// joinResultFor is the answer of a member in the current generation; the
// leader (withMembers) is told every member with its metadata.
func (g *group) joinResultFor(m *member, withMembers bool) JoinResult {
	pt, p := g.protocolType, g.protocol
	res := JoinResult{
		MemberID:     m.id,
		Generation:   g.generation,
		ProtocolType: &pt,
		Protocol:     &p,
		Leader:       g.leader,
	}
	if withMembers {
		for _, x := range g.members {
			res.Members = append(res.Members, JoinMember{MemberID: x.id, InstanceID: x.instanceID, Metadata: x.metadata(g.protocol)})
		}
	}
	return res
}

// addPending records a member id handed out with MEMBER_ID_REQUIRED; it is
// forgotten if the member does not join with it within its session timeout.
func (g *group) addPending(id string, sessionTimeout time.Duration) {
	inc := g.incarnation
	g.pending[id] = g.co.clock.AfterFunc(sessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.incarnation != inc {
			return
		}
		if _, ok := g.pending[id]; !ok {
			return
		}
		delete(g.pending, id)
		if g.state == PreparingRebalance {
			g.tryCompleteJoin()
		}
	})
}

// hasLiveMkMembers reports whether mk's own consumers are live members.
func (g *group) hasLiveMkMembers() bool {
	fg, err := g.co.c.Group(g.name)
	return err == nil && len(g.co.c.LiveMkMembers(fg)) > 0
}
