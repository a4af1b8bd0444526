package groupcoord

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// Heartbeat keeps a member's session and tells it when to rejoin
// (REBALANCE_IN_PROGRESS).
func (co *Coordinator) Heartbeat(req HeartbeatRequest) *kerr.Error {
	if err := co.validateGroup(req.Group); err != nil {
		return err
	}
	g, err := co.lookup(req.Group, false)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	if err := g.validateCurrentMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.get(req.MemberID)
	switch g.state {
	case Empty:
		return kerr.UnknownMemberID
	case PreparingRebalance:
		g.scheduleExpiry(m, m.sessionTimeout)
		return kerr.RebalanceInProgress
	}
	// CompletingRebalance (a member may heartbeat between its join and
	// its sync) and Stable.
	g.scheduleExpiry(m, m.sessionTimeout)
	return nil
}

// Leave is a LeaveGroup of one or more members (v3+ batches them). Each
// leaving member is removed at once and a stable group rebalances without
// waiting for any session timeout. It returns the request's error and
// each member's.
func (co *Coordinator) Leave(group string, members []LeaveMember) (*kerr.Error, []*kerr.Error) {
	if err := co.validateGroup(group); err != nil {
		return err, nil
	}
	errs := make([]*kerr.Error, len(members))
	g, err := co.lookup(group, false)
	if err != nil {
		return err, nil
	}
	if g == nil {
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return nil, errs
	}
	defer g.mu.Unlock()
	for i, lm := range members {
		errs[i] = g.leave(lm)
	}
	return nil, errs
}

func (g *group) leave(lm LeaveMember) *kerr.Error {
	reason := "member " + lm.MemberID + " left"
	if lm.Reason != "" {
		reason += " (" + lm.Reason + ")"
	}
	if lm.MemberID == "" {
		// An administrator removing a static member by its instance id.
		id, ok := g.static[lm.InstanceID]
		if lm.InstanceID == "" || !ok {
			return kerr.UnknownMemberID
		}
		g.removeMemberAndUpdateGroup(g.get(id), "static member "+lm.InstanceID+" removed")
		return nil
	}
	if _, ok := g.pending[lm.MemberID]; ok {
		g.removePending(lm.MemberID)
		if g.state == PreparingRebalance {
			g.tryCompleteJoin()
		}
		return nil
	}
	if err := g.validateCurrentMember(lm.MemberID, lm.InstanceID); err != nil {
		return err
	}
	g.removeMemberAndUpdateGroup(g.get(lm.MemberID), reason)
	return nil
}
