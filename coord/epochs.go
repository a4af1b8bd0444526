package coord

import (
	"errors"
	"fmt"
	"os"

	"mk/logdir"
)

// Leader epochs above the replicas' own.
//
// The controller fences the old leader's replica at the new epoch (its
// state file says "follower at epoch N+1") before it publishes N+1 in the
// topic file. A controller killed between the two leaves that replica
// ahead of the metadata: it then refuses to lead, or to follow, at any
// epoch up to N ("cannot lead at N"), and a partition whose metadata keeps
// naming it leader at N never gets one.
//
// In Kafka the leader epoch lives only in the metadata log
// (PartitionChangeBuilder bumps it, by setting the leader field, in the
// same record that names the new leader), so a replica can never be ahead
// of it. mk's fence writes the epoch into a replica before the metadata,
// so the controller makes the pair recoverable instead:
//
//   - every epoch it publishes with a bump is above every epoch any replica
//     of the partition holds on disk (raiseEpochs), so a fence that was
//     never published is overtaken by the next one that is;
//   - at the start of each term, and after a fence or publish that failed,
//     it audits every partition: one whose replicas hold an epoch above
//     its metadata gets its epoch bumped past them, with the same leader
//     if that leader is still eligible (Kafka likewise bumps the epoch with
//     an unchanged leader, e.g. triggerLeaderEpochBumpForIsrShrinkIfNeeded).
//
// Only the controller's fence writes an epoch the metadata does not hold
// yet (brokers take their epochs from the metadata), and it does so under
// meta/lock after checking its controller epoch, so a term's first audit,
// which follows its claim of controller.json under that lock, sees every
// fence an earlier controller left unpublished.

// AfterFenceHook, when set, is called by the controller after it fenced
// the old leaders of topic's partitions and before it publishes their new
// leaders, under meta/lock. Tests set it to kill the controller at exactly
// that point; nil otherwise.
var AfterFenceHook func(topic string)

// diskEpoch returns the largest leader epoch that a replica of partition
// holds in its state file (read without a lock, dead broker or not), and
// the broker whose replica holds it; -1 and NoLeader when no replica
// exists yet. A replica whose state cannot be read is left out and
// reported in err (the others are still read).
func (c *Cluster) diskEpoch(topic string, p *Partition) (epoch, broker int, err error) {
	epoch, broker = -1, NoLeader
	var errs []error
	for _, r := range p.Replicas {
		rd, oerr := logdir.OpenReader(c.PartitionDir(r, topic, p.Partition))
		if errors.Is(oerr, os.ErrNotExist) {
			continue
		}
		if oerr != nil {
			errs = append(errs, oerr)
			continue
		}
		st, serr := rd.State()
		rd.Close()
		if serr != nil {
			errs = append(errs, fmt.Errorf("read the leader epoch of %s-%d on broker %d: %w", topic, p.Partition, r, serr))
			continue
		}
		if int(st.LeaderEpoch) > epoch {
			epoch, broker = int(st.LeaderEpoch), r
		}
	}
	return epoch, broker, errors.Join(errs...)
}

// raiseEpochs makes the epochs of next (the election's result for t)
// safe to publish: a change that bumps the epoch bumps it past every
// replica's epoch on disk, and, when audit is set, a partition whose
// replicas are ahead of its metadata gets a bump (and a change) too. It
// returns the changes, amended.
func (ctl *controller) raiseEpochs(t, next *Topic, changes []PartitionChange, audit bool) []PartitionChange {
	at := map[int]int{} // partition -> index in changes
	for i, ch := range changes {
		at[ch.Partition] = i
	}
	for i := range next.Partitions {
		p := &next.Partitions[i]
		old := t.Partitions[i].LeaderEpoch
		ci, changed := at[i]
		bumped := changed && changes[ci].NewEpoch > old
		if !bumped && !audit {
			continue
		}
		disk, holder, err := ctl.c.diskEpoch(t.Name, &t.Partitions[i])
		ctl.report(err)
		if disk < p.LeaderEpoch || (!bumped && disk <= old) {
			continue
		}
		if !bumped && p.Leader == NoLeader {
			// No leader to give the epoch to: the election that finds
			// one bumps past disk.
			continue
		}
		epoch := disk + 1
		if !changed {
			changes = append(changes, PartitionChange{Partition: i, OldLeader: p.Leader, NewLeader: p.Leader})
			ci = len(changes) - 1
			at[i] = ci
		}
		ch := &changes[ci]
		if !bumped {
			ch.Reason = fmt.Sprintf("broker %d's replica is at epoch %d, ahead of the metadata's %d (a fence whose election was never published): the epoch moves past it", holder, disk, old)
		} else {
			ch.Reason += fmt.Sprintf("; epoch %d, past broker %d's replica at epoch %d", epoch, holder, disk)
		}
		ch.NewEpoch = epoch
		p.LeaderEpoch = epoch
		if ch.Unclean {
			p.LastUncleanEpoch = epoch
		}
	}
	return changes
}
