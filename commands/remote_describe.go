package commands

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"mk/cluster"
	"mk/coord"
	"mk/format"
)

// describe cluster, topic, topics and topic list against a
// cluster.Client. Cells a cluster does not tell (a remote broker's pid, a
// partition's log end offset or size) are "-".

func describeClusterOf(cc *cli.Context, connect connector) error {
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
	view, damaged, err := c.DescribeCluster(ctx)
	if err != nil {
		return err
	}
	d := &damage{}
	d.add(damaged...)
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, view), d.report(cc))
	}
	var rows [][]string
	for _, b := range view.Brokers {
		pid, mark := "", ""
		if b.Pid > 0 {
			pid = strconv.Itoa(b.Pid)
		}
		if b.Controller {
			mark = "yes"
		}
		rows = append(rows, []string{strconv.Itoa(b.ID), b.State, pid, mark, strconv.Itoa(b.Partitions), strconv.Itoa(b.Leaders), bytesOrMissing(b.SizeBytes), b.Address})
	}
	return cmp.Or(format.Table(cc.App.Writer, []string{"BROKER", "STATE", "PID", "CONTROLLER", "PARTITIONS", "LEADERS", "SIZE", "ADDRESS"}, rows), d.report(cc))
}

func bytesOrMissing(n int64) string {
	if n < 0 {
		return format.Missing
	}
	return format.Bytes(n)
}

func printTopic(cc *cli.Context, v *cluster.TopicView) error {
	w := cc.App.Writer
	if err := format.KeyValues(w, [][2]string{
		{"Topic", v.Topic},
		{"TopicId", v.TopicID},
		{"Partitions", strconv.Itoa(v.PartitionCount)},
		{"ReplicationFactor", strconv.Itoa(v.ReplicationFactor)},
		{"Configs", v.ConfigSummary()},
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, p := range v.Partitions {
		rows = append(rows, []string{strconv.Itoa(p.Partition), format.IntOrMissing(int64(p.Leader)), ints(p.Replicas), ints(p.ISR),
			format.IntOrMissing(p.LogStartOffset), format.IntOrMissing(p.HighWatermark), format.IntOrMissing(p.LogEndOffset), bytesOrMissing(p.SizeBytes)})
	}
	return format.Table(w, []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK", "LOG-END-OFFSET", "SIZE"}, rows)
}

func describeTopicOf(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "topic name")
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
	v, err := c.Topic(ctx, name)
	if err != nil {
		return err
	}
	if mode == "json" {
		return format.JSON(cc.App.Writer, v)
	}
	return printTopic(cc, v)
}

func describeTopicsOf(cc *cli.Context, connect connector) error {
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
	views, damaged, err := c.Topics(ctx)
	if err != nil {
		return err
	}
	d := &damage{}
	d.add(damaged...)
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, views), d.report(cc))
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(cc.App.Writer)
		}
		if err := printTopic(cc, v); err != nil {
			return err
		}
	}
	return d.report(cc)
}

func topicListOf(cc *cli.Context, connect connector) error {
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
	views, damaged, err := c.Topics(ctx)
	if err != nil {
		return err
	}
	d := &damage{}
	d.add(damaged...)
	entries := []topicListEntry{}
	var rows [][]string
	for _, t := range views {
		entries = append(entries, topicListEntry{t.Topic, t.TopicID, t.PartitionCount, t.ReplicationFactor, t.Config})
		rows = append(rows, []string{t.Topic, format.Int(int64(t.PartitionCount)), format.Int(int64(t.ReplicationFactor)), t.ConfigSummary()})
	}
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, entries), d.report(cc))
	}
	return cmp.Or(format.Table(cc.App.Writer, []string{"TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "CONFIGS"}, rows), d.report(cc))
}

func topicCreateIn(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "topic name")
	if err != nil {
		return err
	}
	cfg, err := parseConfigs(cc.StringSlice("config"))
	if err != nil {
		return err
	}
	spec := cluster.TopicSpec{Name: name, Config: cfg}
	if cc.IsSet("partitions") {
		spec.Partitions = cc.Int("partitions")
	}
	if cc.IsSet("replication-factor") {
		spec.ReplicationFactor = cc.Int("replication-factor")
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	t, err := c.CreateTopic(ctx, spec)
	if isTopicExists(err) && cc.Bool("if-not-exists") {
		return nil
	}
	if err != nil {
		return err
	}
	if format.IsTerminal(stderrFile()) {
		format.Infof(cc.App.ErrWriter, "created topic %s (%d partitions, replication factor %d)", t.Topic, t.PartitionCount, t.ReplicationFactor)
	}
	return nil
}

func topicAlterIn(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "topic name")
	if err != nil {
		return err
	}
	cfg, err := parseConfigs(cc.StringSlice("config"))
	if err != nil {
		return err
	}
	if !cc.IsSet("partitions") && len(cfg) == 0 && len(cc.StringSlice("delete-config")) == 0 {
		return format.Usagef("topic alter: nothing to change: give --partitions, --config or --delete-config")
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	return c.AlterTopic(ctx, name, cluster.TopicChange{Partitions: cc.Int("partitions"), SetConfig: cfg, DeleteConfig: cc.StringSlice("delete-config")})
}

func topicDeleteIn(cc *cli.Context, connect connector) error {
	name, err := oneArg(cc, "topic name")
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	err = c.DeleteTopic(ctx, name)
	if isUnknownTopic(err) && cc.Bool("if-exists") {
		return nil
	}
	return err
}

func isTopicExists(err error) bool  { return errors.Is(err, coord.ErrTopicExists) }
func isUnknownTopic(err error) bool { return errors.Is(err, coord.ErrUnknownTopic) }
func stderrFile() *os.File          { return os.Stderr }
