package commands

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/coord"
	"mk/format"
	"mk/logdir"
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

func runGroupConsume(cc *cli.Context, c *coord.Cluster, pr *recordPrinter, _ client.StartSpec) error {
	for _, f := range []string{"partition", "offset", "from-time"} {
		if cc.IsSet(f) {
			return format.Usagef("--%s cannot be used with --group: the group assigns partitions and starts at committed offsets", f)
		}
	}
	topics := topicArgs(cc)
	for _, t := range topics {
		if err := coord.ValidateTopicName(t); err != nil {
			return err
		}
		if _, err := c.Topic(t); err != nil {
			return err
		}
	}
	stderr := cc.App.ErrWriter
	logf := func(string, ...any) {}
	if format.IsTerminal(os.Stderr) {
		logf = infof(stderr)
	}
	// A partition without a committed offset (or whose offset retention
	// passed) starts by Kafka's auto.offset.reset: latest, or earliest with
	// --from-beginning. With -e it is earliest too, as -e alone reads from
	// the beginning: a new group's "mk consume t -g g -e" processes what is
	// in the topic and exits, where latest would print nothing and commit
	// the end, skipping every record before it for good. A group with
	// commits resumes from them either way.
	g, err := client.JoinGroup(c, topics, client.GroupOptions{
		Group:          cc.String("group"),
		ClientID:       cc.String("client-id"),
		Strategy:       cc.String("strategy"),
		Commit:         cc.String("commit"),
		SessionTimeout: cc.Duration("session-timeout"),
		ResetEarliest:  cc.Bool("from-beginning") || cc.Bool("exit-at-end"),
		ExitAtEnd:      cc.Bool("exit-at-end"),
		Flush:          pr.w.Flush,
		Warnf:          warnf(stderr),
		Logf:           logf,
	})
	if err != nil {
		return err
	}
	return printUntilDone(pr, cc.Int("max-messages"), g.Run)
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
			{Name: "list", Usage: "GROUP TYPE STATE MEMBERS TOPICS LAG", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()}, Action: groupList,
				Description: "   mk group list\n   mk group list -o json"},
			{Name: "describe", Usage: "same as mk describe group", ArgsUsage: "GROUP", Flags: describeGroupFlags(), Action: describeGroup, Description: describeGroupDoc},
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
				Action: groupResetOffsets,
			},
			{Name: "delete", Usage: "delete a group and its offsets (refused while it has live members)", ArgsUsage: "GROUP", Action: groupDelete,
				Description: "   mk group delete billing"},
			{
				Name: "delete-offsets", Usage: "delete a group's committed offsets of a topic (refused while it has live members)", ArgsUsage: "GROUP",
				Flags:       []cli.Flag{&cli.StringFlag{Name: "topic", Required: true, Usage: "the topic"}},
				Action:      groupDeleteOffsets,
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
there is none.

   mk describe group billing
   mk describe group billing --members
   mk describe group billing -o json`

func describeGroupFlags() []cli.Flag {
	return []cli.Flag{outputFlag(), &cli.BoolFlag{Name: "members", Usage: "one row per member with its partitions"}}
}

// groupPartitionRow is one row of describe group, Kafka's columns.
type groupPartitionRow struct {
	Group         string `json:"group"`
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	CurrentOffset int64  `json:"current_offset"` // -1: none committed
	LogEndOffset  int64  `json:"log_end_offset"`
	Lag           int64  `json:"lag"` // -1: unknown
	ConsumerID    string `json:"consumer_id"`
	Host          string `json:"host"`
	ClientID      string `json:"client_id"`
}

type groupMemberRow struct {
	MemberID   string                 `json:"member_id"`
	Host       string                 `json:"host"`
	ClientID   string                 `json:"client_id"`
	Pid        int                    `json:"pid"`
	Partitions []coord.TopicPartition `json:"partitions"`
}

type groupView struct {
	Group string `json:"group"`
	// ProtocolType is the group's kind: "consumer" (or another protocol
	// type) for Kafka clients' groups, "mk" for mk's own.
	ProtocolType string              `json:"protocol_type"`
	State        string              `json:"state"`
	Generation   int64               `json:"generation"`
	Strategy     string              `json:"strategy"`
	Members      []groupMemberRow    `json:"members"`
	Offsets      []groupPartitionRow `json:"offsets"`
	lag          int64
	topics       []string
	// damaged are the topic and offsets files that could not be read: the
	// view leaves their rows out.
	damaged []error
}

// viewGroup gathers a group's state, members, offsets and lag.
func viewGroup(c *coord.Cluster, name string) (*groupView, error) {
	g, err := c.Group(name)
	if err != nil {
		return nil, err
	}
	live, err := c.LiveMembers(name)
	if err != nil {
		return nil, err
	}
	v := &groupView{Group: name, ProtocolType: g.ProtocolType(), Generation: g.Generation, Strategy: g.Strategy, Members: []groupMemberRow{}, Offsets: []groupPartitionRow{}}
	assignedTo := map[coord.TopicPartition]groupMemberRow{}
	var subscribed []string
	if g.HasKafkaMembers() {
		subscribed = viewKafkaMembers(g, v, assignedTo)
	} else {
		stable := true
		for _, m := range g.Members {
			if !slices.Contains(live, m.ID) {
				continue
			}
			row := groupMemberRow{m.ID, m.Host, m.ClientID, m.Pid, g.Assignment[m.ID]}
			v.Members = append(v.Members, row)
			for _, tp := range g.Assignment[m.ID] {
				assignedTo[tp] = row
				if c.Owner(name, tp) != m.ID {
					stable = false
				}
			}
		}
		switch {
		case len(v.Members) == 0:
			v.State = "Empty"
		case !stable || len(live) != len(g.Members):
			v.State = "Rebalancing"
		default:
			v.State = "Stable"
		}
		if len(v.Members) > 0 {
			subscribed = g.Topics()
		}
	}
	topics, err := c.CommittedTopics(name)
	if err != nil {
		return nil, err
	}
	topics = append(topics, subscribed...)
	slices.Sort(topics)
	v.topics = slices.Compact(topics)
	for _, topic := range v.topics {
		t, err := c.Topic(topic)
		if errors.Is(err, coord.ErrUnknownTopic) {
			continue
		}
		if err != nil {
			v.damaged = append(v.damaged, err)
			continue
		}
		committed, err := c.CommittedOffsets(name, topic)
		if err != nil {
			v.damaged = append(v.damaged, err)
			continue
		}
		tv := viewTopic(c, t)
		for _, p := range tv.Partitions {
			row := groupPartitionRow{Group: name, Topic: topic, Partition: p.Partition, CurrentOffset: -1, LogEndOffset: p.HighWatermark, Lag: -1}
			if cm, ok := committed[p.Partition]; ok {
				row.CurrentOffset = cm.Offset
				if p.HighWatermark >= 0 {
					row.Lag = max(p.HighWatermark-cm.Offset, 0)
					v.lag += row.Lag
				}
			}
			if m, ok := assignedTo[coord.TopicPartition{Topic: topic, Partition: p.Partition}]; ok {
				row.ConsumerID, row.Host, row.ClientID = m.MemberID, m.Host, m.ClientID
			}
			v.Offsets = append(v.Offsets, row)
		}
	}
	return v, nil
}

func describeGroup(cc *cli.Context) error {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return err
	}
	mode, c, d, err := outputAndCluster(cc)
	if err != nil {
		return err
	}
	v, err := viewGroup(c, name)
	if err != nil {
		return err
	}
	d.add(v.damaged...)
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, v), d.report(cc))
	}
	w := cc.App.Writer
	format.KeyValues(w, [][2]string{
		{"Group", v.Group}, {"ProtocolType", orMissing(v.ProtocolType)}, {"State", v.State}, {"Generation", format.Int(v.Generation)},
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
			rows = append(rows, []string{v.Group, m.MemberID, m.Host, m.ClientID, pidOrMissing(m.Pid), strconv.Itoa(len(m.Partitions)), strings.Join(ps, ",")})
		}
		return cmp.Or(format.Table(w, []string{"GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "PID", "#PARTITIONS", "ASSIGNMENT"}, rows), d.report(cc))
	}
	var rows [][]string
	for _, r := range v.Offsets {
		rows = append(rows, []string{r.Group, r.Topic, strconv.Itoa(r.Partition), format.IntOrMissing(r.CurrentOffset),
			format.IntOrMissing(r.LogEndOffset), format.IntOrMissing(r.Lag), r.ConsumerID, r.Host, r.ClientID})
	}
	return cmp.Or(format.Table(w, []string{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}, rows), d.report(cc))
}

func groupList(cc *cli.Context) error {
	mode, c, d, err := outputAndCluster(cc)
	if err != nil {
		return err
	}
	groups, bad, err := c.GroupsReadable()
	if err != nil {
		return err
	}
	d.add(bad...)
	type entry struct {
		Group        string   `json:"group"`
		ProtocolType string   `json:"protocol_type"`
		State        string   `json:"state"`
		Members      int      `json:"members"`
		Topics       []string `json:"topics"`
		Lag          int64    `json:"lag"`
	}
	entries := []entry{}
	var rows [][]string
	for _, g := range groups {
		v, err := viewGroup(c, g.Name)
		if err != nil {
			d.add(err) // damaged since the listing
			continue
		}
		d.add(v.damaged...)
		entries = append(entries, entry{v.Group, v.ProtocolType, v.State, len(v.Members), v.topics, v.lag})
		rows = append(rows, []string{v.Group, orMissing(v.ProtocolType), v.State, strconv.Itoa(len(v.Members)), strings.Join(v.topics, ","), format.Int(v.lag)})
	}
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, entries), d.report(cc))
	}
	return cmp.Or(format.Table(cc.App.Writer, []string{"GROUP", "TYPE", "STATE", "MEMBERS", "TOPICS", "LAG"}, rows), d.report(cc))
}

// resetTargets resolves --topic/--all-topics into partitions.
func resetTargets(cc *cli.Context, c *coord.Cluster, v *groupView) ([]coord.TopicPartition, error) {
	specs := cc.StringSlice("topic")
	if len(specs) > 0 == cc.Bool("all-topics") {
		return nil, format.Usagef("give --topic or --all-topics (one of them)")
	}
	if cc.Bool("all-topics") {
		specs = v.topics
		if len(specs) == 0 {
			return nil, fmt.Errorf("group %s has no offsets and no members: name the topic with --topic", v.Group)
		}
	}
	var out []coord.TopicPartition
	seen := map[coord.TopicPartition]bool{}
	add := func(tp coord.TopicPartition) {
		if !seen[tp] { // named twice: one row, one reset
			seen[tp] = true
			out = append(out, tp)
		}
	}
	for _, s := range specs {
		name, parts, hasParts := strings.Cut(s, ":")
		t, err := c.Topic(name)
		if err != nil {
			return nil, err
		}
		if !hasParts {
			for _, p := range t.Partitions {
				add(coord.TopicPartition{Topic: name, Partition: p.Partition})
			}
			continue
		}
		for _, ps := range strings.Split(parts, ",") {
			p, err := strconv.Atoi(ps)
			if err != nil || p < 0 {
				return nil, format.Usagef("--topic %q: partitions are numbers: TOPIC:0,1,2", s)
			}
			if p >= len(t.Partitions) {
				return nil, client.PartitionRangeError(name, p, len(t.Partitions))
			}
			add(coord.TopicPartition{Topic: name, Partition: p})
		}
	}
	return out, nil
}

func groupResetOffsets(cc *cli.Context) error {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return err
	}
	mode, err := outputMode(cc)
	if err != nil {
		return err
	}
	n := 0
	for _, f := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime", "by-duration", "shift-by"} {
		if cc.IsSet(f) {
			n++
		}
	}
	if n != 1 {
		return format.Usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --by-duration, --shift-by")
	}
	var at int64 = -1
	if s := cc.String("to-datetime"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return format.Usagef("--to-datetime %q: use RFC 3339 (2024-05-01T10:00:00Z)", s)
		}
		at = t.UnixMilli()
	}
	if s := cc.String("by-duration"); s != "" {
		if at, err = msAgo("--by-duration", s); err != nil {
			return err
		}
	}
	// A damaged cluster.json is a warning, another topic's file nothing:
	// reset-offsets needs neither. A topic it is asked to reset must be
	// readable (resetTargets).
	d := &damage{}
	c, err := openReadable(cc, d)
	if err != nil {
		return err
	}
	d.warn(cc)
	v, err := viewGroup(c, name)
	if err != nil {
		return err
	}
	if err := c.RequireNoLiveMembers(name); err != nil {
		return err
	}
	tps, err := resetTargets(cc, c, v)
	if err != nil {
		return err
	}
	plan := map[coord.TopicPartition]int64{}
	var rows [][]string
	type row struct {
		Group     string `json:"group"`
		Topic     string `json:"topic"`
		Partition int    `json:"partition"`
		NewOffset int64  `json:"new_offset"`
	}
	out := []row{}
	for _, tp := range tps {
		t, err := c.Topic(tp.Topic)
		if err != nil {
			return err
		}
		pv := viewTopic(c, t).Partitions[tp.Partition]
		if pv.HighWatermark < 0 {
			return fmt.Errorf("%w: partition %s has no readable replica", client.ErrNoLeader, tp)
		}
		committed, err := c.CommittedOffsets(name, tp.Topic)
		if err != nil {
			return err
		}
		var off int64
		switch {
		case cc.Bool("to-earliest"):
			off = pv.LogStartOffset
		case cc.Bool("to-latest"):
			off = pv.HighWatermark
		case cc.IsSet("to-offset"):
			off = cc.Int64("to-offset")
		case cc.IsSet("shift-by"):
			cur, ok := committed[tp.Partition]
			if !ok {
				return fmt.Errorf("group %s has no committed offset for %s to shift", name, tp)
			}
			off = addOffset(cur.Offset, cc.Int64("shift-by"))
		default:
			if off, err = offsetForTime(c, t, tp.Partition, at); err != nil {
				return err
			}
		}
		if clamped := min(max(off, pv.LogStartOffset), pv.HighWatermark); clamped != off {
			format.Warnf(cc.App.ErrWriter, "new offset %d of %s is outside the log (%d to %d): using %d", off, tp, pv.LogStartOffset, pv.HighWatermark, clamped)
			off = clamped
		}
		plan[tp] = off
		out = append(out, row{name, tp.Topic, tp.Partition, off})
		rows = append(rows, []string{name, tp.Topic, strconv.Itoa(tp.Partition), format.Int(off)})
	}
	if cc.Bool("execute") {
		if err := c.SetOffsets(name, plan); err != nil {
			return err
		}
	}
	if mode == "json" {
		return format.JSON(cc.App.Writer, out)
	}
	return format.Table(cc.App.Writer, []string{"GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"}, rows)
}

// offsetForTime is the first offset of a partition at or after ms.
func offsetForTime(c *coord.Cluster, t *coord.Topic, partition int, ms int64) (int64, error) {
	p := t.Partitions[partition]
	b := p.Leader
	if b == coord.NoLeader && len(p.ISR) > 0 {
		b = p.ISR[0]
	}
	rd, err := logdir.OpenReader(c.PartitionDir(b, t.Name, partition))
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	off, _, err := rd.OffsetForTimestamp(ms)
	return off, err
}

func groupDelete(cc *cli.Context) error {
	name, err := oneArg(cc, "group name")
	if err != nil {
		return err
	}
	// Neither a damaged cluster.json nor the group's own damaged
	// group.json keeps a group from being deleted (coord.DeleteGroup).
	d := &damage{}
	c, err := openReadable(cc, d)
	if err != nil {
		return err
	}
	d.warn(cc)
	return c.DeleteGroup(name)
}

func groupDeleteOffsets(cc *cli.Context) error {
	name, c, err := argAndCluster(cc, "group name")
	if err != nil {
		return err
	}
	return c.DeleteGroupOffsets(name, cc.String("topic"))
}
