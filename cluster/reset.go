package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"mk/client"
	"mk/coord"
)

// The reset-offsets plan of mk group reset-offsets, for either kind of
// cluster: which partitions, which new offset for each (clamped to the
// log, as Kafka's kafka-consumer-groups.sh does), then, with Execute,
// the commit.

// ResetTo is where reset-offsets moves a group's offsets.
type ResetTo int

const (
	ResetEarliest ResetTo = iota + 1 // the log start offset
	ResetLatest                      // the high watermark
	ResetToOffset                    // Value, an absolute offset
	ResetToTime                      // the first offset at or after Value (ms since 1970)
	ResetShiftBy                     // the committed offset plus Value
)

// ResetSpec is a reset-offsets request.
type ResetSpec struct {
	Group string
	// Topics are TOPIC or TOPIC:P,P,... (ParseTopicPartitions); AllTopics
	// takes every topic the group has offsets for or subscribes to.
	Topics    []string
	AllTopics bool
	To        ResetTo
	Value     int64
	Execute   bool
	// Warnf is told of offsets clamped to the log.
	Warnf func(format string, args ...any)
}

// ResetRow is one partition's new offset.
type ResetRow struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	NewOffset int64  `json:"new_offset"`
}

// ErrBadTopicPartitions: a --topic TOPIC:P,P whose partitions are not
// numbers.
var ErrBadTopicPartitions = errors.New("partitions are numbers: TOPIC:0,1,2")

// ParseTopicPartitions reads TOPIC or TOPIC:P,P,...; partitions nil means
// every partition.
func ParseTopicPartitions(s string) (topic string, partitions []int, err error) {
	name, parts, hasParts := strings.Cut(s, ":")
	if !hasParts {
		return name, nil, nil
	}
	for _, ps := range strings.Split(parts, ",") {
		p, err := strconv.Atoi(ps)
		if err != nil || p < 0 {
			return "", nil, fmt.Errorf("--topic %q: %w", s, ErrBadTopicPartitions)
		}
		partitions = append(partitions, p)
	}
	return name, partitions, nil
}

// PlanReset computes the new offsets and, with spec.Execute, commits
// them. It refuses (coord.ErrGroupActive) while the group has live
// members, even for a dry run: the plan would be stale at once.
func PlanReset(ctx context.Context, c Client, spec ResetSpec) ([]ResetRow, error) {
	warnf := orNop(spec.Warnf)
	v, _, err := c.Group(ctx, spec.Group)
	if err != nil {
		return nil, err
	}
	if err := c.RequireInactive(ctx, spec.Group); err != nil {
		return nil, err
	}
	specs := spec.Topics
	if spec.AllTopics {
		specs = v.Topics
		if len(specs) == 0 {
			return nil, fmt.Errorf("group %s has no offsets and no members: name the topic with --topic", spec.Group)
		}
	}
	type target struct {
		tp   coord.TopicPartition
		part PartitionView
	}
	var targets []target
	seen := map[coord.TopicPartition]bool{}
	views := map[string]*TopicView{}
	for _, s := range specs {
		name, parts, err := ParseTopicPartitions(s)
		if err != nil {
			return nil, err
		}
		tv := views[name]
		if tv == nil {
			if tv, err = c.Topic(ctx, name); err != nil {
				return nil, err
			}
			views[name] = tv
		}
		if parts == nil {
			for _, p := range tv.Partitions {
				parts = append(parts, p.Partition)
			}
		}
		for _, p := range parts {
			if p >= len(tv.Partitions) {
				return nil, client.PartitionRangeError(name, p, len(tv.Partitions))
			}
			tp := coord.TopicPartition{Topic: name, Partition: p}
			if !seen[tp] { // named twice: one row, one reset
				seen[tp] = true
				targets = append(targets, target{tp, tv.Partitions[p]})
			}
		}
	}
	var byTime map[coord.TopicPartition]int64
	if spec.To == ResetToTime {
		var tps []coord.TopicPartition
		for _, t := range targets {
			tps = append(tps, t.tp)
		}
		if byTime, err = c.OffsetsForTime(ctx, tps, spec.Value); err != nil {
			return nil, err
		}
	}
	plan := map[coord.TopicPartition]int64{}
	rows := []ResetRow{}
	for _, t := range targets {
		pv := t.part
		if pv.HighWatermark < 0 {
			return nil, fmt.Errorf("%w: partition %s has no readable replica", client.ErrNoLeader, t.tp)
		}
		var off int64
		switch spec.To {
		case ResetEarliest:
			off = pv.LogStartOffset
		case ResetLatest:
			off = pv.HighWatermark
		case ResetToOffset:
			off = spec.Value
		case ResetShiftBy:
			cur, ok := v.Committed(t.tp)
			if !ok {
				return nil, fmt.Errorf("group %s has no committed offset for %s to shift", spec.Group, t.tp)
			}
			off = addSaturated(cur, spec.Value)
		case ResetToTime:
			off = byTime[t.tp]
		default:
			return nil, fmt.Errorf("reset offsets: no target given")
		}
		if clamped := min(max(off, pv.LogStartOffset), pv.HighWatermark); clamped != off {
			warnf("new offset %d of %s is outside the log (%d to %d): using %d", off, t.tp, pv.LogStartOffset, pv.HighWatermark, clamped)
			off = clamped
		}
		plan[t.tp] = off
		rows = append(rows, ResetRow{spec.Group, t.tp.Topic, t.tp.Partition, off})
	}
	if spec.Execute {
		if err := c.SetGroupOffsets(ctx, spec.Group, plan); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// addSaturated is a+b, saturated at the ends of int64: a shift past
// either end is the end, never a wrap to the other.
func addSaturated(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}
