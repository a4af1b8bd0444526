package commands

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"mk/cluster"
	"mk/format"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:  "describe",
		Usage: "tables about the cluster and its topics (-o json for scripts)",
		Subcommands: []*cli.Command{
			{Name: "cluster", Usage: "brokers: state, pid, controller, partitions hosted and led, data size", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()},
				Description: "STATE is alive, failed (holds its lock but stopped heartbeating: SIGSTOP) or dead.\nADDRESS is where the broker serves the Kafka protocol on TCP (- when it does not;\nfor a dead broker, where it did).\n\n   mk describe cluster\n   mk describe cluster -o json | jq '.brokers[] | select(.state != \"alive\")'"},
			{Name: "topic", Usage: "a topic's partitions: leader, replicas, ISR, offsets, size", ArgsUsage: "NAME", Flags: []cli.Flag{outputFlag()},
				Description: "LEADER is - when no replica can lead, and is followed by (dead) or (failed) when its broker is down:\nwith no controller running (every broker down), LEADER and ISR are as last recorded, and a note\nafter the table says so. Offsets are read from the leader's replica.\n\n   mk describe topic orders\n   mk describe topic orders -o json | jq '.partitions[].high_watermark'"},
			{Name: "topics", Usage: "every topic, as describe topic", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()},
				Description: "   mk describe topics\n   mk describe topics -o json"},
			{Name: "producers", Usage: "a topic's idempotent producers, as each partition's leader remembers them", ArgsUsage: "TOPIC", Flags: []cli.Flag{outputFlag()},
				Description: "One row per producer and partition (Kafka's DescribeProducers, as kafka-transactions.sh\ndescribe-producers shows it): its id and epoch, the sequence of its last record and the\ntimestamp (ms) of its last batch. A broker forgets a producer that has not written for\nproducer.id.expiration.ms (a day). Partitions whose leader cannot be asked are noted.\n\n   mk describe producers orders\n   mk describe producers orders -o json | jq '.producers[].producer_id'"},
			{Name: "group", Usage: "a consumer group: state, generation, and Kafka's GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID", ArgsUsage: "GROUP", Flags: describeGroupFlags(),
				Description: describeGroupDoc},
		},
	}
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

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
		leader := format.IntOrMissing(int64(p.Leader))
		if p.LeaderState != "" && p.LeaderState != "alive" {
			leader += " (" + p.LeaderState + ")"
		}
		rows = append(rows, []string{strconv.Itoa(p.Partition), leader, ints(p.Replicas), ints(p.ISR),
			format.IntOrMissing(p.LogStartOffset), format.IntOrMissing(p.HighWatermark), format.IntOrMissing(p.LogEndOffset), bytesOrMissing(p.SizeBytes)})
	}
	if err := format.Table(w, []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK", "LOG-END-OFFSET", "SIZE"}, rows); err != nil {
		return err
	}
	if len(v.Notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range v.Notes {
		fmt.Fprintln(w, "Note: "+n)
	}
	return nil
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

func describeProducersOf(cc *cli.Context, connect connector) error {
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
	ctx, stop := timeoutContext(cc)
	defer stop()
	v, err := c.Producers(ctx, name)
	if err != nil {
		return err
	}
	if mode == "json" {
		return format.JSON(cc.App.Writer, v)
	}
	w := cc.App.Writer
	var rows [][]string
	for _, p := range v.Producers {
		rows = append(rows, []string{strconv.Itoa(p.Partition), strconv.Itoa(p.Leader), strconv.FormatInt(p.ProducerID, 10), strconv.Itoa(p.ProducerEpoch),
			format.IntOrMissing(int64(p.LastSequence)), format.IntOrMissing(p.LastTimestamp)})
	}
	if err := format.Table(w, []string{"PARTITION", "LEADER", "PRODUCER-ID", "PRODUCER-EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP"}, rows); err != nil {
		return err
	}
	if len(v.Notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range v.Notes {
		fmt.Fprintln(w, "Note: "+n)
	}
	return nil
}
