package commands

import (
	"slices"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/coord"
)

// groupFlags are mk consume's consumer-group flags.
func groupFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "group", Aliases: []string{"g"}, Usage: "consume as a member of this consumer group (created on first use); starts at the committed offsets"},
		&cli.StringFlag{Name: "strategy", Value: coord.StrategyRange, Usage: "group assignment strategy: range, roundrobin or sticky"},
		&cli.StringFlag{Name: "commit", Value: client.CommitAuto, Usage: "auto (every 5s, on rebalance and exit), sync (after every batch written) or none"},
		&cli.DurationFlag{Name: "session-timeout", Value: coord.GroupSessionTimeout, Usage: "a member that stops heartbeating (SIGSTOP) this long is removed (session.timeout.ms)"},
		&cli.StringFlag{Name: "client-id", Value: "mk", Usage: "client id shown in mk describe group"},
	}
}

func groupCommand() *cli.Command {
	target := []cli.Flag{
		&cli.StringSliceFlag{Name: "topic", Usage: "`TOPIC` or TOPIC:P,P,... (repeatable)"},
		&cli.BoolFlag{Name: "all-topics", Usage: "every topic the group has offsets for or subscribes to"},
	}
	return &cli.Command{
		Name:  "group",
		Usage: "list consumer groups, reset or delete their offsets",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "GROUP STATE MEMBERS TOPICS LAG", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()},
				Description: "   mk group list\n   mk group list -o json"},
			{Name: "describe", Usage: "same as mk describe group", ArgsUsage: "GROUP", Flags: describeGroupFlags(), Description: describeGroupDoc},
			{
				Name:      "reset-offsets",
				Usage:     "move a group's committed offsets (a dry run unless --execute)",
				ArgsUsage: "GROUP",
				Description: `Refused while the group has live members. An offset outside a partition's
log is clamped to its log start or high watermark, with a warning, as Kafka
does.

   mk group reset-offsets g1 --topic orders --to-earliest             # shows the plan
   mk group reset-offsets g1 --topic orders:0,2 --shift-by -10 --execute
   mk group reset-offsets g1 --all-topics --to-datetime 2024-05-01T10:00:00Z --execute`,
				Flags: append(slices.Clone(target),
					&cli.BoolFlag{Name: "to-earliest", Usage: "the log start offset"},
					&cli.BoolFlag{Name: "to-latest", Usage: "the high watermark"},
					&cli.Int64Flag{Name: "to-offset", Usage: "an absolute offset"},
					&cli.StringFlag{Name: "to-datetime", Usage: "the first offset at or after an RFC 3339 time"},
					&cli.StringFlag{Name: "by-duration", Usage: "the first offset at or after now minus a duration (1h)"},
					&cli.Int64Flag{Name: "shift-by", Usage: "move the committed offset by N (negative: back)"},
					&cli.BoolFlag{Name: "execute", Usage: "do it (without it, only print the new offsets)"},
					outputFlag(),
				),
			},
			{Name: "delete", Usage: "delete a group and its offsets (refused while it has live members)", ArgsUsage: "GROUP",
				Description: "   mk group delete billing"},
			{
				Name: "delete-offsets", Usage: "delete a group's committed offsets of a topic (refused while it has live members)", ArgsUsage: "GROUP",
				Flags:       []cli.Flag{&cli.StringFlag{Name: "topic", Required: true, Usage: "the topic"}},
				Description: "   mk group delete-offsets billing --topic orders",
			},
		},
	}
}

// describeGroupDoc is the help of mk describe group.
const describeGroupDoc = `State is Empty (no live member), Rebalancing (a partition is not yet owned by
the member it is assigned to) or Stable. CURRENT-OFFSET is the committed
offset, LOG-END-OFFSET the partition's high watermark, LAG their difference;
- where there is none.

   mk describe group billing
   mk describe group billing --members
   mk describe group billing -o json`

func describeGroupFlags() []cli.Flag {
	return []cli.Flag{outputFlag(), &cli.BoolFlag{Name: "members", Usage: "one row per member with its partitions"}}
}
