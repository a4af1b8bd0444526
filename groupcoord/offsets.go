package groupcoord

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
)

// Commit is an OffsetCommit. Partitions of unknown topics are refused with
// UNKNOWN_TOPIC_OR_PARTITION and metadata over MaxOffsetMetadata with
// OFFSET_METADATA_TOO_LARGE, as Kafka's broker does before its coordinator
// looks at the rest. The rest are checked against the group (Kafka's
// rules: a member of the current generation, or, with generation -1 and no
// member id, a client that only stores offsets in a group without members)
// and written to the group's offset files, under the group's lock, before
// the answer.
func (co *Coordinator) Commit(req CommitRequest) map[coord.TopicPartition]*kerr.Error {
	out := make(map[coord.TopicPartition]*kerr.Error, len(req.Offsets))
	valid := map[coord.TopicPartition]coord.KafkaOffset{}
	if err := co.validateGroup(req.Group); err != nil {
		for tp := range req.Offsets {
			out[tp] = err
		}
		return out
	}
	for tp, off := range req.Offsets {
		t, err := co.c.Topic(tp.Topic)
		switch {
		case err != nil || tp.Partition < 0 || tp.Partition >= len(t.Partitions):
			out[tp] = kerr.UnknownTopicOrPartition
		case len(off.Metadata) > MaxOffsetMetadata:
			out[tp] = kerr.OffsetMetadataTooLarge
		default:
			valid[tp] = off
		}
	}
	if len(valid) == 0 {
		return out
	}
	setAll := func(err *kerr.Error) map[coord.TopicPartition]*kerr.Error {
		for tp := range valid {
			out[tp] = err
		}
		return out
	}
	// A group that does not exist is made by a client storing offsets
	// only; a commit of a generation of a group that does not exist is
	// from a member of a group long gone.
	g, err := co.lookup(req.Group, req.Generation < 0)
	if err != nil {
		return setAll(err)
	}
	if g == nil {
		return setAll(kerr.IllegalGeneration)
	}
	defer g.mu.Unlock()
	if err := g.validateCommit(req); err != nil {
		return setAll(err)
	}
	switch g.state {
	case CompletingRebalance:
		// The member knows the new generation but has no assignment yet.
		return setAll(kerr.RebalanceInProgress)
	case Stable, PreparingRebalance:
		// Commits during a rebalance are accepted: members commit what
		// they consumed before they give partitions up.
		if m := g.get(req.MemberID); m != nil {
			g.scheduleExpiry(m, m.sessionTimeout)
		}
	}
	// Without members here, mk's own consumers may hold the group: a
	// client that is not a member cannot commit to a group with members.
	checkMk := g.state == Empty
	topicErrs, werr := co.c.CommitKafkaOffsets(g.name, g.fence, checkMk, int64(req.Generation), req.MemberID, valid)
	switch {
	case errors.Is(werr, coord.ErrCoordinatorFenced):
		co.logf("group %s: %v: giving it up", g.name, werr)
		g.unload(kerr.NotCoordinator)
		return setAll(kerr.NotCoordinator)
	case errors.Is(werr, coord.ErrGroupKind):
		return setAll(kerr.UnknownMemberID)
	case werr != nil:
		co.logf("group %s: cannot write offsets: %v", g.name, werr)
		return setAll(kerr.CoordinatorNotAvailable)
	}
	for tp := range valid {
		out[tp] = nil
		if topicErrs[tp.Topic] != nil {
			out[tp] = kerr.UnknownTopicOrPartition
		}
	}
	return out
}

// validateCommit is Kafka's validateOffsetCommit.
func (g *group) validateCommit(req CommitRequest) *kerr.Error {
	if req.Generation < 0 && g.state == Empty {
		return nil // a client that only stores offsets
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != "" {
		if err := g.validateCurrentMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
		return nil
	}
	// Only members commit to a group that has members.
	return kerr.UnknownMemberID
}

// FetchOffsets is an OffsetFetch of one group: the offsets committed for
// the partitions of topics (nil: every partition the group has offsets
// for), -1 for a partition without one. It reads the offset files, which
// hold the commits of mk's own consumers too.
func (co *Coordinator) FetchOffsets(group string, topics map[string][]int32) ([]FetchedOffset, *kerr.Error) {
	if err := co.validateGroup(group); err != nil {
		return nil, err
	}
	var out []FetchedOffset
	if topics == nil {
		names, err := co.c.CommittedTopics(group)
		if err != nil {
			co.logf("group %s: %v", group, err)
			return nil, kerr.CoordinatorNotAvailable
		}
		sort.Strings(names)
		for _, t := range names {
			committed, err := co.c.CommittedOffsets(group, t)
			if err != nil {
				co.logf("group %s: %v", group, err)
				return nil, kerr.CoordinatorNotAvailable
			}
			parts := make([]int, 0, len(committed))
			for p := range committed {
				parts = append(parts, p)
			}
			sort.Ints(parts)
			for _, p := range parts {
				out = append(out, fetched(t, int32(p), committed[p], true))
			}
		}
		return out, nil
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		committed, err := co.c.CommittedOffsets(group, t)
		if err != nil {
			co.logf("group %s: %v", group, err)
			return nil, kerr.CoordinatorNotAvailable
		}
		for _, p := range topics[t] {
			c, ok := committed[int(p)]
			out = append(out, fetched(t, p, c, ok))
		}
	}
	return out, nil
}

func fetched(topic string, p int32, c coord.Committed, ok bool) FetchedOffset {
	f := FetchedOffset{Topic: topic, Partition: p, Offset: -1, LeaderEpoch: -1}
	if ok {
		f.Offset, f.Metadata = c.Offset, c.Metadata
		if c.LeaderEpoch != nil {
			f.LeaderEpoch = *c.LeaderEpoch
		}
	}
	return f
}

// DeleteOffsets is an OffsetDelete: the group's offsets of tps are removed
// if the group is empty, or, in a consumer group with members, for topics
// no member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC for the others).
func (co *Coordinator) DeleteOffsets(group string, tps []coord.TopicPartition) (*kerr.Error, map[coord.TopicPartition]*kerr.Error) {
	if err := co.validateGroup(group); err != nil {
		return err, nil
	}
	g, err := co.lookup(group, false)
	if err != nil {
		return err, nil
	}
	if g == nil {
		return kerr.GroupIDNotFound, nil
	}
	defer g.mu.Unlock()
	out := map[coord.TopicPartition]*kerr.Error{}
	var eligible []coord.TopicPartition
	for _, tp := range tps {
		if t, err := co.c.Topic(tp.Topic); err != nil || tp.Partition < 0 || tp.Partition >= len(t.Partitions) {
			out[tp] = kerr.UnknownTopicOrPartition
			continue
		}
		eligible = append(eligible, tp)
	}
	switch {
	case g.state == Empty && g.hasLiveMkMembers():
		return kerr.NonEmptyGroup, nil
	case g.state == Empty:
	case g.protocolType == consumerProtocolType:
		subscribed, known := g.subscribedTopics()
		kept := eligible[:0]
		for _, tp := range eligible {
			if !known || subscribed[tp.Topic] {
				out[tp] = kerr.GroupSubscribedToTopic
				continue
			}
			kept = append(kept, tp)
		}
		eligible = kept
	default:
		return kerr.NonEmptyGroup, nil
	}
	if len(eligible) > 0 {
		err := co.c.DeleteKafkaOffsets(g.name, g.fence, eligible)
		if errors.Is(err, coord.ErrCoordinatorFenced) {
			g.unload(kerr.NotCoordinator)
			return kerr.NotCoordinator, nil
		}
		if err != nil {
			co.logf("group %s: cannot delete offsets: %v", g.name, err)
			return kerr.CoordinatorNotAvailable, nil
		}
	}
	for _, tp := range eligible {
		out[tp] = nil
	}
	return nil, out
}
