package groupcoord

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sync is a SyncGroup. In a generation that is starting, members wait for
// the leader's; the leader's assignment is written to the group's file
// before anyone is answered, so a successor coordinator hands out the same
// assignments. Blocks like Join.
func (co *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResult {
	if err := co.validateGroup(req.Group); err != nil {
		return syncError(err)
	}
	g, err := co.lookup(req.Group, false)
	if err != nil {
		return syncError(err)
	}
	if g == nil {
		return syncError(kerr.UnknownMemberID)
	}
	ch := make(chan SyncResult, 1)
	res, parked := func() (SyncResult, bool) {
		defer g.mu.Unlock()
		return g.sync(req, ch)
	}()
	if !parked {
		return res
	}
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
		return syncError(kerr.NotCoordinator)
	}
}

func (g *group) sync(req SyncRequest, ch chan<- SyncResult) (SyncResult, bool) {
	if err := g.validateCurrentMember(req.MemberID, req.InstanceID); err != nil {
		return syncError(err), false
	}
	if req.Generation != g.generation {
		return syncError(kerr.IllegalGeneration), false
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType ||
		req.Protocol != nil && (g.protocol == "" || *req.Protocol != g.protocol) {
		return syncError(kerr.InconsistentGroupProtocol), false
	}
	m := g.get(req.MemberID)
	switch g.state {
	case Empty:
		return syncError(kerr.UnknownMemberID), false
	case PreparingRebalance:
		return syncError(kerr.RebalanceInProgress), false
	case Stable:
		g.removePendingSync(m.id)
		g.scheduleExpiry(m, m.sessionTimeout)
		pt, p := g.protocolType, g.protocol
		return SyncResult{ProtocolType: &pt, Protocol: &p, Assignment: m.assignment}, false
	}
	// CompletingRebalance: wait for the leader's assignment.
	m.answerSync(syncError(kerr.RebalanceInProgress)) // an older SyncGroup of the member
	m.sync = ch
	g.removePendingSync(m.id)
	if g.leader != m.id {
		return SyncResult{}, true // what a follower sends is ignored
	}
	// Members the leader left out get an empty assignment; assignments
	// for ids that are not members are dropped.
	for _, x := range g.members {
		x.assignment = req.Assignments[x.id]
		if x.assignment == nil {
			x.assignment = []byte{}
		}
	}
	if err := g.persist(Stable, plainUpdate); err != nil {
		if g.loaded {
			g.resetAndPropagateAssignmentError(err)
			g.maybePrepareRebalance("the assignment could not be written")
		}
		return SyncResult{}, true
	}
	g.transition(Stable)
	g.propagateAssignment(nil)
	g.co.logf("group %s: generation %d stable", g.name, g.generation)
	return SyncResult{}, true
}
