package coord

import (
	"cmp"
	"slices"
)

// Assign computes who should own which partition. members are sorted by
// id; counts gives each subscribed topic's partition count (-1 for a topic
// that does not exist); previous is the last assignment (used by sticky).
// Every member gets an entry, possibly empty. The result is a function of
// its inputs only, so every member computes the same one.
func Assign(strategy string, members []Member, counts map[string]int, previous map[string][]TopicPartition) map[string][]TopicPartition {
	out := make(map[string][]TopicPartition, len(members))
	for _, m := range members {
		out[m.ID] = []TopicPartition{}
	}
	switch strategy {
	case StrategyRoundRobin:
		assignRoundRobin(out, members, counts)
	case StrategySticky:
		assignSticky(out, members, counts, previous)
	default:
		assignRange(out, members, counts)
	}
	for id := range out {
		slices.SortFunc(out[id], compareTP)
	}
	return out
}

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

func subscribers(members []Member, topic string) []string {
	var ids []string
	for _, m := range members {
		if slices.Contains(m.Topics, topic) {
			ids = append(ids, m.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func sortedTopics(counts map[string]int) []string {
	var ts []string
	for t, n := range counts {
		if n > 0 {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return ts
}

// assignRange is Kafka's RangeAssignor: per topic, the partitions in order
// are cut into contiguous ranges over the topic's subscribers sorted by
// member id; the first n%m subscribers get one extra.
func assignRange(out map[string][]TopicPartition, members []Member, counts map[string]int) {
	for _, t := range sortedTopics(counts) {
		subs := subscribers(members, t)
		if len(subs) == 0 {
			continue
		}
		n := counts[t]
		per, extra := n/len(subs), n%len(subs)
		for i, id := range subs {
			start := per*i + min(i, extra)
			length := per
			if i < extra {
				length++
			}
			for p := start; p < start+length; p++ {
				out[id] = append(out[id], TopicPartition{t, p})
			}
		}
	}
}

// assignRoundRobin is Kafka's RoundRobinAssignor: every partition of every
// topic, sorted by topic and partition, goes to the next member (in id
// order, circularly) that subscribes to its topic.
func assignRoundRobin(out map[string][]TopicPartition, members []Member, counts map[string]int) {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	byID := map[string]Member{}
	for _, m := range members {
		byID[m.ID] = m
	}
	next := 0
	for _, t := range sortedTopics(counts) {
		for p := 0; p < counts[t]; p++ {
			for tries := 0; tries < len(ids); tries++ {
				id := ids[next%len(ids)]
				next++
				if slices.Contains(byID[id].Topics, t) {
					out[id] = append(out[id], TopicPartition{t, p})
					break
				}
			}
		}
	}
}

// assignSticky keeps every partition where it was when its owner is still
// a subscribed member, then balances: members over their fair share give up
// their highest partitions, and every free partition goes to the eligible
// member with the fewest (ties by id). Partitions move only to even out
// the counts, which with cooperative rebalancing is what members release.
func assignSticky(out map[string][]TopicPartition, members []Member, counts map[string]int, previous map[string][]TopicPartition) {
	byID := map[string]Member{}
	for _, m := range members {
		byID[m.ID] = m
	}
	total := 0
	for _, t := range sortedTopics(counts) {
		total += counts[t]
	}
	if len(members) == 0 || total == 0 {
		return
	}
	ceil := (total + len(members) - 1) / len(members)
	taken := map[TopicPartition]bool{}
	for _, m := range members {
		for _, tp := range previous[m.ID] {
			if tp.Partition < counts[tp.Topic] && slices.Contains(m.Topics, tp.Topic) && !taken[tp] {
				out[m.ID] = append(out[m.ID], tp)
				taken[tp] = true
			}
		}
	}
	for id := range out {
		slices.SortFunc(out[id], compareTP)
		for len(out[id]) > ceil {
			last := out[id][len(out[id])-1]
			out[id] = out[id][:len(out[id])-1]
			delete(taken, last)
		}
	}
	eligible := func(tp TopicPartition) []string { return subscribers(members, tp.Topic) }
	fewest := func(ids []string) string {
		best := ""
		for _, id := range ids {
			if best == "" || len(out[id]) < len(out[best]) {
				best = id
			}
		}
		return best
	}
	for _, t := range sortedTopics(counts) {
		for p := 0; p < counts[t]; p++ {
			tp := TopicPartition{t, p}
			if taken[tp] {
				continue
			}
			if id := fewest(eligible(tp)); id != "" {
				out[id] = append(out[id], tp)
				taken[tp] = true
			}
		}
	}
	// Even out what the fair-share cut could not (a member that joined when
	// nobody was over the ceiling, mixed subscriptions): always from the
	// member with the most, so that no member both gives and takes.
	for moves := 0; moves < total; moves++ {
		moved := false
		donors := subscribersAll(members)
		slices.SortStableFunc(donors, func(a, b string) int { return cmp.Compare(len(out[b]), len(out[a])) })
		for _, from := range donors {
			for i := len(out[from]) - 1; i >= 0 && !moved; i-- {
				tp := out[from][i]
				to := fewest(eligible(tp))
				if to != "" && len(out[from])-len(out[to]) > 1 {
					out[from] = slices.Delete(out[from], i, i+1)
					out[to] = append(out[to], tp)
					moved = true
				}
			}
		}
		if !moved {
			break
		}
	}
}

func subscribersAll(members []Member) []string {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	return ids
}
