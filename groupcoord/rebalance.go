package groupcoord

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The rebalance: its timers (the initial delay, the rebalance timeout,
// the wait for SyncGroups, the members' sessions) run in the broker
// process. Every timer captures the group's incarnation and a token of its
// own, and does nothing if either moved on: a timer stopped too late, or
// set before the group was unloaded, is harmless.

// maybePrepareRebalance starts a rebalance unless one is under way.
func (g *group) maybePrepareRebalance(reason string) {
	switch g.state {
	case Stable, CompletingRebalance, Empty:
		g.prepareRebalance(reason)
	}
}

// prepareRebalance moves the group to PreparingRebalance: members waiting
// for their assignment are told to join again, and the join phase ends
// when every member has rejoined or the rebalance timeout passes. A group
// that was empty waits group.initial.rebalance.delay.ms first, so that
// members starting together land in one generation.
func (g *group) prepareRebalance(reason string) {
	if g.state == CompletingRebalance {
		g.resetAndPropagateAssignmentError(kerr.RebalanceInProgress)
	}
	g.clearPendingSync()
	if g.state == Empty {
		delay := g.co.cfg.InitialRebalanceDelay
		g.scheduleJoin(true, delay, max(g.rebalanceTimeout()-delay, 0))
	} else {
		g.scheduleJoin(false, g.rebalanceTimeout(), 0)
	}
	g.co.logf("group %s: preparing to rebalance (generation %d, %s): %s", g.name, g.generation, g.state, reason)
	g.transition(PreparingRebalance)
	g.tryCompleteJoin()
}

// scheduleJoin sets the timer that ends the join phase.
func (g *group) scheduleJoin(initial bool, delay, remaining time.Duration) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.joinToken++
	inc, tok := g.incarnation, g.joinToken
	g.initialDelay = initial
	g.joinTimer = g.co.clock.AfterFunc(delay, func() { g.onJoinTimer(inc, tok, initial, delay, remaining) })
}

func (g *group) onJoinTimer(inc, tok uint64, initial bool, delay, remaining time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.incarnation != inc || g.joinToken != tok || g.state != PreparingRebalance {
		return
	}
	g.joinTimer = nil
	if initial && g.newMemberAdded && remaining > 0 {
		// Members keep coming: wait another delay, within the
		// rebalance timeout.
		g.newMemberAdded = false
		next := min(g.co.cfg.InitialRebalanceDelay, remaining)
		g.scheduleJoin(true, next, max(remaining-delay, 0))
		return
	}
	g.completeJoin()
}

// tryCompleteJoin ends the join phase early once every member has rejoined
// and no member id handed out is still to join (never during the initial
// delay).
func (g *group) tryCompleteJoin() {
	if g.state == PreparingRebalance && !g.initialDelay && g.hasAllMembersJoined() {
		if g.joinTimer != nil {
			g.joinTimer.Stop()
			g.joinTimer = nil
		}
		g.joinToken++
		g.completeJoin()
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// removed, and the next generation starts, or the group is empty.
func (g *group) completeJoin() {
	for _, m := range slices.Clone(g.members) {
		if !m.awaitingJoin() && m.instanceID == "" {
			g.co.logf("group %s: member %s did not rejoin in time: removed", g.name, m.id)
			g.remove(m.id)
		}
	}
	if !g.electJoinedLeader() && len(g.members) > 0 {
		// Only static members are left and none rejoined: wait for them
		// (their sessions remove those that are gone).
		g.scheduleJoin(false, g.rebalanceTimeout(), 0)
		return
	}
	g.generation++
	g.clearPendingSync()
	if len(g.members) == 0 {
		g.protocol = ""
		g.transition(Empty)
		g.co.logf("group %s: empty at generation %d", g.name, g.generation)
		g.persist(Empty, plainUpdate)
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance)
	if err := g.persist(CompletingRebalance, plainUpdate); err == kerr.NotCoordinator {
		return // unloaded: the members were told
	}
	g.co.logf("group %s: generation %d with %d member(s), protocol %s, leader %s", g.name, g.generation, len(g.members), g.protocol, g.leader)
	for _, m := range g.members {
		m.answerJoin(g.joinResultFor(m, m.id == g.leader))
		m.isNew = false
		g.scheduleExpiry(m, m.sessionTimeout)
		g.pendingSync[m.id] = true
	}
	g.scheduleSync(g.rebalanceTimeout())
}

// resetAndPropagateAssignmentError forgets the assignments of a generation
// that will not start, and tells the members waiting in SyncGroup.
func (g *group) resetAndPropagateAssignmentError(err *kerr.Error) {
	for _, m := range g.members {
		m.assignment = nil
	}
	g.propagateAssignment(err)
}

// propagateAssignment answers every member waiting in SyncGroup: its
// assignment, or err. Each answered member's session starts again.
func (g *group) propagateAssignment(err *kerr.Error) {
	for _, m := range g.members {
		if !m.awaitingSync() {
			continue
		}
		if err != nil {
			m.answerSync(syncError(err))
		} else {
			pt, p := g.protocolType, g.protocol
			m.answerSync(SyncResult{ProtocolType: &pt, Protocol: &p, Assignment: m.assignment})
		}
		g.scheduleExpiry(m, m.sessionTimeout)
	}
}

// scheduleSync bounds the wait for the members' SyncGroups: members of the
// generation that have not sent one by the rebalance timeout are removed
// and the group rebalances (Kafka's DelayedSync, KIP-814).
func (g *group) scheduleSync(d time.Duration) {
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	g.syncToken++
	inc, tok, gen := g.incarnation, g.syncToken, g.generation
	g.syncTimer = g.co.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.incarnation != inc || g.syncToken != tok || g.generation != gen {
			return
		}
		g.syncTimer = nil
		if (g.state != CompletingRebalance && g.state != Stable) || len(g.pendingSync) == 0 {
			return
		}
		var gone []string
		for id := range g.pendingSync {
			gone = append(gone, id)
		}
		slices.Sort(gone)
		for _, id := range gone {
			if m := g.get(id); m != nil {
				m.answerJoin(joinError("", kerr.UnknownMemberID))
				m.answerSync(syncError(kerr.UnknownMemberID))
			}
			g.remove(id)
		}
		g.prepareRebalance("members " + joinIDs(gone) + " did not sync in time")
	})
}

func (g *group) removePendingSync(id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 && g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
		g.syncToken++
	}
}

func (g *group) clearPendingSync() {
	clear(g.pendingSync)
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
	g.syncToken++
}

// scheduleExpiry (re)starts member m's session: unless it heartbeats (or
// commits, or syncs) within d, it is removed.
func (g *group) scheduleExpiry(m *member, d time.Duration) {
	g.stopExpiry(m)
	m.expiryToken++
	inc, tok := g.incarnation, m.expiryToken
	m.expiry = g.co.clock.AfterFunc(d, func() { g.onExpiry(inc, m, tok) })
}

func (g *group) stopExpiry(m *member) {
	if m.expiry != nil {
		m.expiry.Stop()
		m.expiry = nil
	}
	m.expiryToken++
}

func (g *group) onExpiry(inc uint64, m *member, tok uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.incarnation != inc || m.expiryToken != tok || g.get(m.id) != m {
		return
	}
	m.expiry = nil
	// A member parked in JoinGroup or SyncGroup is alive: the coordinator
	// holds its request and starts its session again when it answers. A
	// new member has NewMemberJoinTimeout to see its first generation.
	if !m.isNew && (m.awaitingJoin() || m.awaitingSync()) {
		return
	}
	g.co.logf("group %s: member %s failed (no heartbeat in %v): removed", g.name, m.id, m.sessionTimeout)
	g.removeMemberAndUpdateGroup(m, "member "+m.id+" failed")
}

// removeMemberAndUpdateGroup removes a member that left or failed: a
// stable group rebalances at once, a rebalance under way may now be
// complete.
func (g *group) removeMemberAndUpdateGroup(m *member, reason string) {
	m.answerJoin(joinError("", kerr.UnknownMemberID))
	m.answerSync(syncError(kerr.UnknownMemberID))
	g.remove(m.id)
	switch g.state {
	case Stable, CompletingRebalance:
		g.maybePrepareRebalance(reason)
	case PreparingRebalance:
		g.tryCompleteJoin()
	}
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ", "
		}
		out += id
	}
	return out
}
