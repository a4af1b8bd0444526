package commands

import (
	"fmt"
	"math"

	"github.com/urfave/cli/v2"

	"mk/coord"
	"mk/format"
)

// intRange is the values a numeric flag takes when the user sets it, and
// why the bounds are what they are.
type intRange struct {
	min, max int64
	why      string // said when the value is above max
}

// intFlagRanges bounds every integer flag, by name (a name means the same
// thing in every command that has it). A flag left at its default is not
// checked: -1 as the default of --partition means "any partition", but a
// user who types --partition -1 made a mistake. Every integer flag must
// have an entry (TestEveryNumericFlagHasARange); the limits that depend on
// the cluster (partitions per topic, replicas per broker, record sizes
// against max.message.bytes) are checked where the cluster is known.
var intFlagRanges = map[string]func() intRange{
	// Kafka's partition and broker ids are 32-bit (int32 on the wire).
	"partition":  func() intRange { return intRange{0, math.MaxInt32, "partition numbers are 32-bit, as in Kafka"} },
	"partitions": func() intRange { return intRange{1, math.MaxInt32, "partition counts are 32-bit, as in Kafka"} },
	"id":         func() intRange { return intRange{1, math.MaxInt32, "broker ids are 32-bit, as in Kafka"} },
	"broker":     func() intRange { return intRange{1, math.MaxInt32, "broker ids are 32-bit, as in Kafka"} },
	"brokers": func() intRange {
		n, why := coord.MaxLocalBrokers()
		return intRange{1, int64(n), why}
	},
	// Kafka's CreateTopics carries the replication factor as an int16.
	"replication-factor": func() intRange {
		return intRange{1, math.MaxInt16, "the replication factor is 16-bit, as in Kafka"}
	},
	"max-messages": func() intRange { return intRange{1, math.MaxInt64, ""} },
	"lines":        func() intRange { return intRange{0, math.MaxInt64, ""} },
	// Kafka's batch.size is a Java int.
	"batch-size":  func() intRange { return intRange{1, math.MaxInt32, "batch.size is 32-bit, as in Kafka"} },
	"records":     func() intRange { return intRange{1, math.MaxInt64, ""} },
	"record-size": func() intRange { return intRange{0, math.MaxInt32, "record sizes are 32-bit, as in Kafka"} },
	"rate":        func() intRange { return intRange{1, math.MaxInt32, "the rate is 32-bit"} },
	// Offsets: any value; what is outside the log is clamped, with a
	// warning, as Kafka's reset-offsets does.
	"to-offset": func() intRange { return intRange{math.MinInt64, math.MaxInt64, ""} },
	"shift-by":  func() intRange { return intRange{math.MinInt64, math.MaxInt64, ""} },
}

// zeroDurationFlags are the durations for which 0 means something: no
// wait (Kafka's group.initial.rebalance.delay.ms=0, usual in development).
var zeroDurationFlags = map[string]bool{"group-initial-rebalance-delay": true}

// checkFlagValues checks the values the user gave to the command's
// numeric flags: integers against intFlagRanges, durations (timeouts and
// intervals, all of them) for being positive. It runs before every
// command's action, so a value out of range is a usage error (exit 2)
// before anything is done.
func checkFlagValues(cc *cli.Context) error {
	for _, f := range cc.Command.Flags {
		name := f.Names()[0]
		if !cc.IsSet(name) {
			continue
		}
		var v int64
		switch f.(type) {
		case *cli.IntFlag:
			v = int64(cc.Int(name))
		case *cli.Int64Flag:
			v = cc.Int64(name)
		case *cli.DurationFlag:
			if d := cc.Duration(name); d < 0 || d == 0 && !zeroDurationFlags[name] {
				return format.Usagef("--%s %s: must be positive", name, d)
			}
			continue
		default:
			if isNumericFlag(f) {
				return fmt.Errorf("internal error: flag --%s has a numeric type with no check", name)
			}
			continue
		}
		rf, ok := intFlagRanges[name]
		if !ok {
			return fmt.Errorf("internal error: flag --%s has no range", name)
		}
		r := rf()
		switch {
		case v < r.min && r.min == 0:
			return format.Usagef("--%s %d: must not be negative", name, v)
		case v < r.min:
			return format.Usagef("--%s %d: must be at least %d", name, v, r.min)
		case v > r.max:
			msg := fmt.Sprintf("--%s %d: must be at most %d", name, v, r.max)
			if r.why != "" {
				msg += ": " + r.why
			}
			return format.Usagef("%s", msg)
		}
	}
	return nil
}

// isNumericFlag reports whether f takes a number (a flag type
// checkFlagValues must know).
func isNumericFlag(f cli.Flag) bool {
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag, *cli.Float64Flag, *cli.DurationFlag,
		*cli.IntSliceFlag, *cli.Int64SliceFlag, *cli.Float64SliceFlag:
		return true
	}
	return false
}
