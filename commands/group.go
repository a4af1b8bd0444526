package commands

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/cluster"
	"mk/coord"
	"mk/format"
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
			{Name: "list", Usage: "GROUP TYPE STATE MEMBERS TOPICS LAG", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()},
				Description: "LAG is the sum of the group's LAG column in mk describe group; - (null in JSON)\nwhen a partition the group has a committed position in has an unknown lag\n(a committed -2, kafkajs's \"earliest\", is no offset).\n\n   mk group list\n   mk group list -o json"},
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
const describeGroupDoc = `ProtocolType is the group's kind: mk for mk's own consumers (mk consume
--group), consumer for Kafka clients' consumer groups (run by a group
coordinator in the brokers). An mk group's State is Empty (no live member),
Rebalancing (a partition is not yet owned by the member it is assigned to) or
Stable; a Kafka group's is Kafka's: Empty, PreparingRebalance,
CompletingRebalance or Stable. CURRENT-OFFSET is the committed offset,
LOG-END-OFFSET the partition's high watermark, LAG their difference; - where
there is none. A committed -2 (kafkajs's "earliest") is no offset: as in
kafka-consumer-groups.sh, its CURRENT-OFFSET and LAG are -.

   mk describe group billing
   mk describe group billing --members
   mk describe group billing -o json`

func describeGroupFlags() []cli.Flag {
	return []cli.Flag{outputFlag(), &cli.BoolFlag{Name: "members", Usage: "one row per member with its partitions"}}
}

// mk group and mk describe group against a cluster.Client. A Kafka
// cluster does not tell a group's generation nor a member's pid: "-".

func groupListOf(cc *cli.Context, connect connector) error {
	mode, err := outputMode(cc)
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	views, damaged, err := c.Groups(ctx)
	if err != nil {
		return err
	}
	d := &damage{}
	d.add(damaged...)
	type entry struct {
		Group        string   `json:"group"`
		ProtocolType string   `json:"protocol_type"`
		State        string   `json:"state"`
		Members      int      `json:"members"`
		Topics       []string `json:"topics"`
		// Lag is null when not known: a partition's is not (see
		// cluster.GroupView.LagKnown).
		Lag *int64 `json:"lag"`
	}
	entries := []entry{}
	var rows [][]string
	for _, v := range views {
		topics := v.Topics
		if topics == nil {
			topics = []string{}
		}
		var lag *int64
		if v.LagKnown() {
			lag = &v.Lag
		}
		entries = append(entries, entry{v.Group, v.ProtocolType, v.State, len(v.Members), topics, lag})
		rows = append(rows, []string{v.Group, orMissing(v.ProtocolType), v.State, strconv.Itoa(len(v.Members)), strings.Join(v.Topics, ","), lagCell(lag)})
	}
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, entries), d.report(cc))
	}
	return cmp.Or(format.Table(cc.App.Writer, []string{"GROUP", "TYPE", "STATE", "MEMBERS", "TOPICS", "LAG"}, rows), d.report(cc))
}

func describeGroupOf(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return err
	}
	mode, err := outputMode(cc)
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	v, damaged, err := c.Group(ctx, name)
	if err != nil {
		return err
	}
	d := &damage{}
	d.add(damaged...)
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, v), d.report(cc))
	}
	w := cc.App.Writer
	format.KeyValues(w, [][2]string{
		{"Group", v.Group}, {"ProtocolType", orMissing(v.ProtocolType)}, {"State", v.State}, {"Generation", format.IntOrMissing(v.Generation)},
		{"Strategy", orMissing(v.Strategy)}, {"Members", strconv.Itoa(len(v.Members))},
	})
	fmt.Fprintln(w)
	if cc.Bool("members") {
		var rows [][]string
		for _, m := range v.Members {
			var ps []string
			for _, tp := range m.Partitions {
				ps = append(ps, tp.String())
			}
			pid := ""
			if m.Pid > 0 {
				pid = strconv.Itoa(m.Pid)
			}
			rows = append(rows, []string{v.Group, m.MemberID, m.Host, m.ClientID, pid, strconv.Itoa(len(m.Partitions)), strings.Join(ps, ",")})
		}
		return cmp.Or(format.Table(w, []string{"GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "PID", "#PARTITIONS", "ASSIGNMENT"}, rows), d.report(cc))
	}
	var rows [][]string
	for _, r := range v.Offsets {
		rows = append(rows, []string{r.Group, r.Topic, strconv.Itoa(r.Partition), format.IntOrMissing(r.CurrentOffset),
			format.IntOrMissing(r.LogEndOffset), lagCell(r.Lag), r.ConsumerID, r.Host, r.ClientID})
	}
	return cmp.Or(format.Table(w, []string{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}, rows), d.report(cc))
}

// readResetSpec reads reset-offsets' flags.
func readResetSpec(cc *cli.Context) (cluster.ResetSpec, error) {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return cluster.ResetSpec{}, err
	}
	spec := cluster.ResetSpec{Group: name, Topics: cc.StringSlice("topic"), AllTopics: cc.Bool("all-topics"), Execute: cc.Bool("execute"), Warnf: warnf(cc.App.ErrWriter)}
	n := 0
	for _, f := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime", "by-duration", "shift-by"} {
		if cc.IsSet(f) {
			n++
		}
	}
	if n != 1 {
		return spec, format.Usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --by-duration, --shift-by")
	}
	if len(spec.Topics) > 0 == spec.AllTopics {
		return spec, format.Usagef("give --topic or --all-topics (one of them)")
	}
	for _, s := range spec.Topics {
		if _, _, err := cluster.ParseTopicPartitions(s); err != nil {
			return spec, format.Usagef("%v", err)
		}
	}
	switch {
	case cc.Bool("to-earliest"):
		spec.To = cluster.ResetEarliest
	case cc.Bool("to-latest"):
		spec.To = cluster.ResetLatest
	case cc.IsSet("to-offset"):
		spec.To, spec.Value = cluster.ResetToOffset, cc.Int64("to-offset")
	case cc.IsSet("shift-by"):
		spec.To, spec.Value = cluster.ResetShiftBy, cc.Int64("shift-by")
	case cc.IsSet("to-datetime"):
		s := cc.String("to-datetime")
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return spec, format.Usagef("--to-datetime %q: use RFC 3339 (2024-05-01T10:00:00Z)", s)
		}
		spec.To, spec.Value = cluster.ResetToTime, t.UnixMilli()
	case cc.IsSet("by-duration"):
		ms, err := msAgo("--by-duration", cc.String("by-duration"))
		if err != nil {
			return spec, err
		}
		spec.To, spec.Value = cluster.ResetToTime, ms
	}
	return spec, nil
}

func groupResetOffsetsIn(cc *cli.Context, connect connector) error {
	mode, err := outputMode(cc)
	if err != nil {
		return err
	}
	spec, err := readResetSpec(cc)
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	rows, err := cluster.PlanReset(ctx, c, spec)
	if errors.Is(err, cluster.ErrBadTopicPartitions) {
		return format.Usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if mode == "json" {
		return format.JSON(cc.App.Writer, rows)
	}
	var table [][]string
	for _, r := range rows {
		table = append(table, []string{r.Group, r.Topic, strconv.Itoa(r.Partition), format.Int(r.NewOffset)})
	}
	return format.Table(cc.App.Writer, []string{"GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"}, table)
}

func groupDeleteIn(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	return c.DeleteGroup(ctx, name)
}

func groupDeleteOffsetsIn(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	return c.DeleteGroupOffsets(ctx, name, cc.String("topic"))
}

// orMissing is s, or "-" for nothing.
func orMissing(s string) string {
	if s == "" {
		return format.Missing
	}
	return s
}

// lagCell is a LAG cell: negative for a committed offset past the log's
// end, as kafka-consumer-groups.sh shows it; - when unknown.
func lagCell(lag *int64) string {
	if lag == nil {
		return format.Missing
	}
	return format.Int(*lag)
}
