package commands

import (
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

func describeCommand() *cli.Command {
	return &cli.Command{
		Name:  "describe",
		Usage: "tables about the cluster and its topics (-o json for scripts)",
		Subcommands: []*cli.Command{
			{Name: "cluster", Usage: "brokers: state, pid, controller, partitions hosted and led, data size", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()},
				Description: "STATE is alive, failed (holds its lock but stopped heartbeating: SIGSTOP) or dead.\nADDRESS is where the broker serves the Kafka protocol on TCP (- when it does not;\nfor a dead broker, where it did).\n\n   mk describe cluster\n   mk describe cluster -o json | jq '.brokers[] | select(.state != \"alive\")'"},
			{Name: "topic", Usage: "a topic's partitions: leader, replicas, ISR, offsets, size", ArgsUsage: "NAME", Flags: []cli.Flag{outputFlag()},
				Description: "LEADER is - when no replica can lead. Offsets are read from the leader's replica.\n\n   mk describe topic orders\n   mk describe topic orders -o json | jq '.partitions[].high_watermark'"},
			{Name: "topics", Usage: "every topic, as describe topic", ArgsUsage: " ", Flags: []cli.Flag{outputFlag()},
				Description: "   mk describe topics\n   mk describe topics -o json"},
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
