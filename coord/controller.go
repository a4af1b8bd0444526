package coord

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"mk/logdir"
)

// Timing of the controller. Package variables so that tests can shorten
// them.
var (
	// ControllerPollInterval is how often a candidate tries controller.lock.
	ControllerPollInterval = 50 * time.Millisecond
	// ControllerBackstop is how often the controller reconciles with no
	// event at all: it bounds how long a lost event, or a broker that
	// stopped heartbeating (which changes no file), goes unnoticed.
	ControllerBackstop = time.Second
	// ControllerTakeoverGrace is how long a candidate must see the
	// controller lock held while the recorded controller's broker is not
	// alive before it takes over without the lock (see RunController).
	// Longer than the usual gap between taking the lock and writing
	// controller.json. It only spares churn: a process that took the lock
	// and claims after a takeover gets the next epoch, and the taker
	// resigns (every controller write checks its epoch under meta/lock).
	// Short, because a stopped controller's partitions, its own broker's
	// included, wait for it: the first pass of a new controller moves them.
	ControllerTakeoverGrace = 250 * time.Millisecond
	// controllerStepDownBackoff keeps a controller that was displaced from
	// competing again at once, so that its successor can take the lock it
	// lets go of instead of the two trading places.
	controllerStepDownBackoff = 2 * time.Second
	// LeaderImbalanceCheckInterval is how often the controller gives
	// leadership back to preferred replicas (Kafka's
	// leader.imbalance.check.interval.seconds, 300 s), when the cluster's
	// auto.leader.rebalance.enable is on. Not at once: a broker that just
	// came back first catches up and rejoins the ISR, and producers are
	// not made to switch leaders twice in a row.
	LeaderImbalanceCheckInterval = 5 * time.Minute
)

// controllerFile is meta/controller.json.
type controllerFile struct {
	Broker  int    `json:"broker"`
	Epoch   int64  `json:"epoch"` // grows on every change of controller
	Pid     int    `json:"pid"`
	Elected string `json:"elected"` // RFC 3339 with nanoseconds
}

// ControllerInfo describes the controller as controller.json records it.
type ControllerInfo struct {
	// Broker is the controller's broker id, -1 if there never was one.
	Broker int
	// Epoch grows by one on every change of controller (Kafka's
	// controller epoch); 0 if there never was a controller.
	Epoch   int64
	Pid     int
	Elected time.Time
	// LockHeld: some process holds meta/controller.lock.
	LockHeld bool
	// Active: LockHeld and the recorded broker is alive, so the recorded
	// controller is at work.
	Active bool
}

// Controller reads controller.json and checks that a controller is active.
func (c *Cluster) Controller() (ControllerInfo, error) {
	f, err := c.readController()
	if err != nil {
		return ControllerInfo{Broker: -1}, err
	}
	info := ControllerInfo{Broker: f.Broker, Epoch: f.Epoch, Pid: f.Pid}
	info.Elected, _ = time.Parse(time.RFC3339Nano, f.Elected)
	if info.LockHeld, err = lockHeld(c.controllerLockPath()); err != nil {
		return info, err
	}
	info.Active = info.LockHeld && f.Broker >= 0 && c.BrokerAlive(f.Broker)
	return info, nil
}

// readController reads controller.json; a missing file is broker -1, epoch 0.
func (c *Cluster) readController() (controllerFile, error) {
	f := controllerFile{Broker: -1}
	err := readJSON(c.controllerJSONPath(), &f)
	if errors.Is(err, os.ErrNotExist) {
		return controllerFile{Broker: -1}, nil
	}
	return f, err
}

// ControllerHooks are how the controller tells its broker what it does.
// Every field may be nil.
type ControllerHooks struct {
	// OnElected is called when this process becomes the controller.
	OnElected func(epoch int64)
	// OnResigned is called when it stops being the controller: its
	// context ended or another controller took a higher epoch.
	OnResigned func(epoch int64)
	// OnLeaderChange is called for every leader change before the new
	// leader is published: it fences the old leader's replica so that
	// nothing more is appended under the old epoch. newLeader may be
	// NoLeader. If it fails the partition keeps its old state and the
	// change is tried again on the next reconciliation. It runs under
	// meta/lock and must not call methods that write metadata.
	OnLeaderChange func(topic string, partition int, oldLeader, newLeader, newEpoch int) error
	// OnError receives the errors the controller lives through (a corrupt
	// topic file, a failing hook); it retries on its next wake.
	OnError func(error)
	// Logf receives what the controller did that a person should know:
	// every change of leader it published, with the reason, and loudly
	// every unclean election.
	Logf func(format string, args ...any)
}

// RunController makes broker brokerID compete to be the controller until
// ctx ends, then returns nil. brokerID must be registered and alive in
// this process (RegisterBroker).
//
// The controller is whoever holds meta/controller.lock: the candidates
// poll it every ControllerPollInterval, and the winner writes
// controller.json with the epoch increased. A holder that is stopped
// (SIGSTOP) keeps the lock, so a live candidate that sees the lock held
// but the recorded controller's broker not alive for
// ControllerTakeoverGrace takes over without the lock, by writing the
// next epoch; it takes the lock as soon as it is free. Every controller
// write checks under meta/lock that controller.json still has its epoch,
// so a controller that resumes after being displaced writes nothing more,
// lets the lock go and competes again.
//
// The controller reconciles every topic at once, on every change in
// meta/brokers or meta/topics, at the death of any broker (it waits on
// each broker's lock) and every ControllerBackstop: see electLeaders.
// An error that persists from one reconciliation to the next is given to
// OnError once, not every time.
func (c *Cluster) RunController(ctx context.Context, brokerID int, h ControllerHooks) error {
	ctl := &controller{c: c, brokerID: brokerID, h: h, waiters: newLockWaiters()}
	var notBefore time.Time
	for {
		epoch, lock, ok := ctl.campaign(ctx, notBefore)
		if !ok {
			return nil // ctx ended
		}
		if h.OnElected != nil {
			h.OnElected(epoch)
		}
		ctl.lead(ctx, epoch, lock)
		if h.OnResigned != nil {
			h.OnResigned(epoch)
		}
		if ctx.Err() != nil {
			return nil
		}
		notBefore = time.Now().Add(controllerStepDownBackoff)
	}
}

// controller is the state of one RunController.
type controller struct {
	c        *Cluster
	brokerID int
	h        ControllerHooks
	// waiters learn of lock releases (broker deaths, the controller lock
	// freed); shared by the terms of this RunController, since a waiter
	// outlives the term that started it.
	waiters *lockWaiters
	// reported holds the messages given to OnError in the previous pass
	// and current holds this pass's, so a lasting error is reported once.
	reported, current map[string]bool
	// audit: the next pass compares every partition's epoch with its
	// replicas' (see epochs.go); set at the start of a term and after a
	// fence or publish that failed.
	audit bool
}

// report gives err to OnError unless the previous pass reported it.
func (ctl *controller) report(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if ctl.current == nil {
		ctl.current = map[string]bool{}
	}
	if !ctl.reported[msg] && !ctl.current[msg] && ctl.h.OnError != nil {
		ctl.h.OnError(err)
	}
	ctl.current[msg] = true
}

// endPass forgets the errors that did not happen again.
func (ctl *controller) endPass() {
	ctl.reported, ctl.current = ctl.current, nil
}

// campaign waits until this process may act as controller and returns its
// epoch and, unless it took over from a stopped controller, the held
// controller lock. ok is false when ctx ended first.
func (ctl *controller) campaign(ctx context.Context, notBefore time.Time) (epoch int64, lock *fileLock, ok bool) {
	c := ctl.c
	t := time.NewTicker(ControllerPollInterval)
	defer t.Stop()
	var suspectEpoch int64 = -1 // the epoch of a controller seen not alive
	var suspectSince time.Time
	for {
		if time.Now().After(notBefore) {
			l, err := tryLock(c.controllerLockPath())
			ctl.report(err)
			if l == nil && err == nil {
				// Held: wake the moment its holder lets go or dies (the
				// kernel drops the lock), not at the next poll, so that a
				// controller's death costs its partitions no poll
				// interval of leaderlessness.
				ctl.waiters.wait(c.controllerLockPath())
			}
			if l != nil {
				epoch, err := c.claimController(ctl.brokerID, -1)
				if err == nil {
					ctl.endPass()
					return epoch, l, true
				}
				ctl.report(err)
				l.unlock()
			} else if f, err := c.readController(); err == nil && f.Broker >= 0 &&
				!c.BrokerAlive(f.Broker) && c.BrokerAlive(ctl.brokerID) {
				if held, _ := lockHeld(c.controllerLockPath()); !held {
					suspectEpoch = -1 // the holder let go: compete for the lock
				} else if suspectEpoch != f.Epoch {
					suspectEpoch, suspectSince = f.Epoch, time.Now()
				} else if time.Since(suspectSince) >= ControllerTakeoverGrace {
					if epoch, err := c.claimController(ctl.brokerID, f.Epoch); err == nil {
						ctl.endPass()
						return epoch, nil, true
					}
				}
			} else {
				ctl.report(err)
				suspectEpoch = -1
			}
			ctl.endPass()
		}
		select {
		case <-ctx.Done():
			return 0, nil, false
		case <-t.C:
		case <-ctl.waiters.c:
		}
	}
}

// claimController writes controller.json naming brokerID with the next
// epoch. If expect >= 0 it does so only if the current epoch is expect.
func (c *Cluster) claimController(brokerID int, expect int64) (int64, error) {
	var epoch int64
	err := c.withMetaLock(func() error {
		cur, err := c.readController()
		if err != nil && !errors.Is(err, ErrCorruptMetadata) {
			return err
		}
		if expect >= 0 && cur.Epoch != expect {
			return ErrNotController
		}
		epoch = cur.Epoch + 1
		return writeJSON(c.controllerJSONPath(), controllerFile{
			Broker:  brokerID,
			Epoch:   epoch,
			Pid:     os.Getpid(),
			Elected: time.Now().UTC().Format(time.RFC3339Nano),
		})
	})
	return epoch, err
}

// checkEpoch returns ErrNotController unless controller.json has epoch.
func (c *Cluster) checkEpoch(epoch int64) error {
	f, err := c.readController()
	if err != nil {
		return err
	}
	if f.Epoch != epoch {
		return newError(ErrNotController, "controller epoch moved from %d to %d (broker %d)", epoch, f.Epoch, f.Broker)
	}
	return nil
}

// lead is the controller's term. It returns when ctx ends or the epoch
// moves on, and releases the controller lock it holds.
func (ctl *controller) lead(ctx context.Context, epoch int64, lock *fileLock) {
	c := ctl.c
	defer func() { lock.unlock() }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := Watch(ctx, []string{c.brokersDir(), c.topicsDir()}, ControllerBackstop)
	imbalance := time.NewTicker(LeaderImbalanceCheckInterval)
	defer imbalance.Stop()
	preferred := false // give leadership back to preferred replicas in this pass
	ctl.audit = true   // a controller that died before it published may have left fences
	for {
		if lock == nil {
			// Took over from a stopped controller: take the lock once the
			// old holder lets go of it (or dies), so the next candidates
			// see a held lock again.
			l, err := tryLock(c.controllerLockPath())
			ctl.report(err)
			if lock = l; lock == nil {
				ctl.waiters.wait(c.controllerLockPath())
			}
		}
		if err := c.checkEpoch(epoch); err != nil {
			if !errors.Is(err, ErrNotController) {
				ctl.report(err)
				ctl.endPass()
			}
			return
		}
		audit := ctl.audit
		ctl.audit = false
		brokers, err := ctl.reconcile(epoch, preferred && c.ClusterConfig().AutoLeaderRebalance, false)
		preferred = false
		if audit && !errors.Is(err, ErrNotController) {
			// After the elections, which need no audit (they bump past
			// every replica's epoch anyway) and which a new term's
			// partitions may be waiting for: the audit reads the state
			// of every replica.
			ctl.report(err)
			brokers, err = ctl.reconcile(epoch, false, true)
		}
		if errors.Is(err, ErrNotController) {
			return
		}
		ctl.report(err)
		ctl.endPass()
		// A stopped broker changes no file and keeps its lock: wake when
		// the first live broker's heartbeat would pass its session
		// timeout, rather than at the next backstop, so that its
		// partitions move as soon as it counts as failed.
		var expiry <-chan time.Time
		var timer *time.Timer
		first := time.Time{}
		for _, b := range brokers {
			if b.LockHeld {
				ctl.waiters.wait(c.brokerLockPath(b.ID))
			}
			if at := b.LastHeartbeat.Add(b.SessionTimeout); b.Alive && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
		if !first.IsZero() {
			timer = time.NewTimer(time.Until(first) + time.Millisecond)
			expiry = timer.C
		}
		select {
		case <-ctx.Done():
		case <-expiry:
		case <-wake:
		case <-ctl.waiters.c:
		case <-imbalance.C:
			preferred = true
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// reconcile brings every topic's leaders and ISR in line with the live
// brokers, and returns the brokers it saw. Topics are read without the
// lock first; only those that need a change are read again and written
// under meta/lock. With audit set, the epochs of every partition are
// checked against its replicas' (raiseEpochs).
func (ctl *controller) reconcile(epoch int64, preferred, audit bool) ([]BrokerInfo, error) {
	c := ctl.c
	ids, err := c.registeredIDs()
	if err != nil {
		return nil, err
	}
	var brokers []BrokerInfo
	alive := map[int]bool{}
	for _, id := range ids {
		// A broker whose registration is unreadable is still judged by
		// its lock and heartbeat.
		b, err := c.Broker(id)
		ctl.report(err)
		brokers = append(brokers, b)
		alive[id] = b.Alive
	}
	isAlive := func(id int) bool { return alive[id] }
	names, err := c.topicNames()
	if err != nil {
		return brokers, err
	}
	for _, name := range names {
		t, err := c.readTopic(name)
		if err != nil {
			if !errors.Is(err, ErrUnknownTopic) {
				ctl.report(err)
			}
			continue
		}
		progress := func(partition, broker int) (ReplicaProgress, error) {
			return c.replicaProgress(name, partition, broker)
		}
		if next, changes := elect(t, isAlive, progress, preferred); len(changes) == 0 && (!audit || len(ctl.raiseEpochs(t, next, nil, true)) == 0) {
			continue
		}
		err = c.withMetaLock(func() error {
			if err := c.checkEpoch(epoch); err != nil {
				return err
			}
			t, err := c.readTopic(name)
			if err != nil {
				return err
			}
			next, changes := elect(t, isAlive, progress, preferred)
			changes = ctl.raiseEpochs(t, next, changes, audit)
			fenced := false
			for _, ch := range changes {
				if ch.OldLeader == ch.NewLeader || ctl.h.OnLeaderChange == nil {
					continue
				}
				if err := ctl.h.OnLeaderChange(name, ch.Partition, ch.OldLeader, ch.NewLeader, ch.NewEpoch); err != nil {
					// Publish nothing for this partition: it keeps its
					// old leader, epoch and ISR until the next try.
					// The fence may have moved the replica's epoch
					// before it failed: the next pass audits.
					next.Partitions[ch.Partition] = t.Partitions[ch.Partition]
					ctl.audit = true
					ctl.report(fmt.Errorf("fence leader change of %s-%d from %d to %d: %w", name, ch.Partition, ch.OldLeader, ch.NewLeader, err))
				} else if ch.OldLeader != NoLeader {
					fenced = true
				}
			}
			if slices.EqualFunc(next.Partitions, t.Partitions, partitionEqual) {
				return nil
			}
			if fenced && AfterFenceHook != nil {
				AfterFenceHook(name)
			}
			next.Version = t.Version + 1
			if err := writeJSON(c.topicPath(name), next); err != nil {
				ctl.audit = true // the fences stay ahead of the metadata
				return err
			}
			ctl.logChanges(name, t, next, changes)
			return nil
		})
		if errors.Is(err, ErrNotController) {
			return brokers, err
		}
		if !errors.Is(err, ErrUnknownTopic) {
			ctl.report(err)
		}
	}
	return brokers, nil
}

// logChanges tells Logf about the leader changes published for topic.
func (ctl *controller) logChanges(topic string, prev, next *Topic, changes []PartitionChange) {
	if ctl.h.Logf == nil {
		return
	}
	for _, ch := range changes {
		if partitionEqual(next.Partitions[ch.Partition], prev.Partitions[ch.Partition]) {
			continue // not published: its fence failed
		}
		if ch.OldLeader != ch.NewLeader || ch.Unclean || ch.NewEpoch != prev.Partitions[ch.Partition].LeaderEpoch {
			leader := "no leader"
			if ch.NewLeader != NoLeader {
				leader = fmt.Sprintf("leader %d", ch.NewLeader)
			}
			msg := fmt.Sprintf("%s-%d: %s at epoch %d (was %s)", topic, ch.Partition, leader, ch.NewEpoch, brokerOrNone(ch.OldLeader))
			if ch.Reason != "" {
				msg += ": " + ch.Reason
			}
			ctl.h.Logf("%s", msg)
		}
	}
}

func brokerOrNone(id int) string {
	if id == NoLeader {
		return "none"
	}
	return strconv.Itoa(id)
}

// PartitionChange is one partition's change in an election.
type PartitionChange struct {
	Partition            int
	OldLeader, NewLeader int
	NewEpoch             int
	// Unclean: the new leader was not eligible in a clean election (not
	// in the ISR, or known to lack committed records): records may be
	// lost, and the partition accepts it (LastUncleanEpoch).
	Unclean bool
	// Reason says why the leader changed, for the log.
	Reason string
}

// electLeaders computes the next state of t's partitions given which
// brokers are alive, following Kafka's controller (and design decision 7):
//
//   - A replica is eligible to lead when its broker is alive, it is in the
//     ISR and it is not listed as damaged (lacking records that may have
//     been committed, see Partition.Damaged).
//   - A partition whose leader is alive and not damaged keeps it; dead
//     members leave its ISR (the leader itself stays, so the ISR is never
//     empty).
//   - A partition whose leader is not alive, is damaged, or that has none
//     gets the first eligible replica in assignment order. The ISR becomes
//     its live members.
//   - When a partition with damaged replicas has no eligible replica in
//     its ISR, a live replica outside the ISR, not damaged, is eligible if
//     it holds every committed record: its high watermark is at least
//     every offset any replica's files (read through progress; nil skips
//     this) or damaged entry say was committed. (A follower leaves the ISR
//     when its broker stops, although it holds every record: when the
//     leader then comes back damaged, that follower is the one to lead.)
//   - If no replica is eligible and unclean.leader.election.enable is
//     true, the first live replica not known to be damaged leads (a
//     damaged one only if no other is alive), with an ISR of itself:
//     records acknowledged only by the old ISR may be lost, as Kafka warns.
//     The partition records the election (LastUncleanEpoch) and forgets
//     its damaged replicas: what they lacked is now lost.
//   - Otherwise the partition has NoLeader, and its ISR stays as it was:
//     with no leader nothing can be committed, so every member still has
//     every committed record (but the damaged ones) and may lead when it
//     comes back.
//
// Every change of leader, and every unclean election, increases the
// leader epoch by one. It returns the new state (a copy) and the
// partitions that change.
func electLeaders(t *Topic, alive func(int) bool, progress ProgressFunc) (*Topic, []PartitionChange) {
	next := t.Clone()
	unclean := t.BoolConfig(ConfigUncleanLeaderElection)
	var changes []PartitionChange
	for i := range next.Partitions {
		p := &next.Partitions[i]
		leader, isr := p.Leader, p.ISR
		eligible := func(r int) bool { return alive(r) && slices.Contains(p.ISR, r) && !p.IsDamaged(r) }
		var reason string
		isUnclean := false
		switch {
		case leader == NoLeader:
			reason = "the partition had no leader"
		case !alive(leader):
			reason = fmt.Sprintf("broker %d is down", leader)
		case p.IsDamaged(leader):
			d, _ := p.DamagedReplica(leader)
			reason = d.String()
		}
		if reason != "" {
			leader = NoLeader
			for _, r := range p.Replicas {
				if eligible(r) {
					leader = r
					break
				}
			}
			if leader == NoLeader && len(p.Damaged) > 0 && progress != nil {
				if r, hw, ok := holdsEveryCommitted(p, i, alive, progress); ok {
					leader, isr = r, []int{r}
					reason += fmt.Sprintf("; broker %d, outside the ISR, holds every committed record (its high watermark %d is the largest any replica recorded)", r, hw)
				}
			}
			if leader == NoLeader && unclean {
				for _, damagedToo := range []bool{false, true} {
					for _, r := range p.Replicas {
						if leader == NoLeader && alive(r) && (damagedToo || !p.IsDamaged(r)) {
							leader = r
						}
					}
				}
				if leader != NoLeader {
					isr, isUnclean = []int{leader}, true
					reason = fmt.Sprintf("UNCLEAN LEADER ELECTION: %s, and no in-sync replica holding every committed record is alive; by unclean.leader.election.enable broker %d leads with the records it has, and records acknowledged before may be lost", reason, leader)
					if d, ok := p.DamagedReplica(leader); ok {
						reason += fmt.Sprintf(" (it lacks offsets %d to %d)", d.LogEndOffset, d.HighWatermark-1)
					}
				}
			}
			if leader == NoLeader {
				reason += "; no in-sync replica holding every committed record is alive: the partition waits for one (or for unclean.leader.election.enable)"
			}
		}
		if leader != NoLeader {
			var live []int
			for _, r := range isr {
				if alive(r) {
					live = append(live, r)
				}
			}
			if !slices.Contains(live, leader) {
				live = append([]int{leader}, live...)
			}
			isr = live
		}
		if leader == p.Leader && slices.Equal(isr, p.ISR) && !isUnclean {
			continue
		}
		ch := PartitionChange{Partition: i, OldLeader: p.Leader, NewLeader: leader, NewEpoch: p.LeaderEpoch, Unclean: isUnclean, Reason: reason}
		if leader != p.Leader || isUnclean {
			ch.NewEpoch++
		}
		p.Leader, p.LeaderEpoch, p.ISR = leader, ch.NewEpoch, slices.Clone(isr)
		if isUnclean {
			p.LastUncleanEpoch, p.Damaged = ch.NewEpoch, nil
		}
		changes = append(changes, ch)
	}
	return next, changes
}

// ReplicaProgress is what a replica's files say about the records it knew
// committed.
type ReplicaProgress struct {
	// HighWatermark is the replica's high watermark: every record below
	// it is a committed record this replica holds.
	HighWatermark int64
	// Committed is the largest offset (exclusive) the replica knew
	// committed: its high watermark, or where the committed records its
	// log lost ended.
	Committed int64
}

// ProgressFunc reads the progress of broker's replica of a partition. A
// replica that does not exist has nothing: zero progress and no error.
type ProgressFunc func(partition, broker int) (ReplicaProgress, error)

// replicaProgress reads broker's replica of topic's partition without a
// lock, dead broker or not (the files are there).
func (c *Cluster) replicaProgress(topic string, partition, broker int) (ReplicaProgress, error) {
	rd, err := logdir.OpenReader(c.PartitionDir(broker, topic, partition))
	if errors.Is(err, os.ErrNotExist) {
		return ReplicaProgress{}, nil
	}
	if err != nil {
		return ReplicaProgress{}, err
	}
	defer rd.Close()
	st, err := rd.State()
	if err != nil {
		return ReplicaProgress{}, err
	}
	return ReplicaProgress{HighWatermark: st.HighWatermark, Committed: max(st.HighWatermark, st.LostCommittedTo)}, nil
}

// holdsEveryCommitted looks for a live replica of p (partition i) outside
// its ISR, not damaged, whose high watermark is at least every offset any
// replica or damaged entry says was committed: it holds every committed
// record. Every replica's progress must be known.
func holdsEveryCommitted(p *Partition, i int, alive func(int) bool, progress ProgressFunc) (int, int64, bool) {
	var committed int64
	for _, d := range p.Damaged {
		committed = max(committed, d.HighWatermark)
	}
	hw := map[int]int64{}
	for _, r := range p.Replicas {
		pr, err := progress(i, r)
		if err != nil {
			return NoLeader, 0, false
		}
		hw[r], committed = pr.HighWatermark, max(committed, pr.Committed)
	}
	for _, r := range p.Replicas {
		if alive(r) && !slices.Contains(p.ISR, r) && !p.IsDamaged(r) && hw[r] >= committed {
			return r, hw[r], true
		}
	}
	return NoLeader, 0, false
}

// elect is electLeaders and then, when preferred is set, the preferred
// leader election of Kafka's auto leader rebalance: a partition whose
// first replica (its preferred leader, which assignment spreads evenly) is
// alive and in the ISR but does not lead gets it back as leader, with the
// epoch bumped, so leadership evens out again after a broker restarts.
// The ISR member has every committed record, so the move loses nothing.
func elect(t *Topic, alive func(int) bool, progress ProgressFunc, preferred bool) (*Topic, []PartitionChange) {
	next, changes := electLeaders(t, alive, progress)
	if !preferred {
		return next, changes
	}
	for i := range next.Partitions {
		p := &next.Partitions[i]
		if len(p.Replicas) == 0 {
			continue
		}
		want := p.Replicas[0]
		if p.Leader == want || p.Leader == NoLeader || !alive(want) || !slices.Contains(p.ISR, want) || p.IsDamaged(want) {
			continue
		}
		changes = append(changes, PartitionChange{Partition: i, OldLeader: p.Leader, NewLeader: want, NewEpoch: p.LeaderEpoch + 1, Reason: "preferred leader"})
		p.Leader, p.LeaderEpoch = want, p.LeaderEpoch+1
	}
	return next, changes
}

func partitionEqual(a, b Partition) bool {
	return a.Partition == b.Partition && a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.Damaged, b.Damaged) && a.LastUncleanEpoch == b.LastUncleanEpoch
}

// lockWaiters learns of lock releases: for each path it waits on, one
// goroutine blocks in flock(2) until the holder lets go or dies, then
// wakes c. flock cannot be interrupted, so a goroutine outlives the
// controller until its lock is released; it then only does a non-blocking
// send and exits.
type lockWaiters struct {
	c       chan struct{}
	mu      sync.Mutex
	waiting map[string]bool
}

func newLockWaiters() *lockWaiters {
	return &lockWaiters{c: make(chan struct{}, 1), waiting: map[string]bool{}}
}

// wait starts waiting on path unless it already does.
func (w *lockWaiters) wait(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting[path] {
		return
	}
	w.waiting[path] = true
	go func() {
		err := waitLockReleased(path)
		w.mu.Lock()
		delete(w.waiting, path)
		w.mu.Unlock()
		if err != nil {
			return // the controller's backstop covers it
		}
		select {
		case w.c <- struct{}{}:
		default:
		}
	}()
}
