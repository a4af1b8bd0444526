package commands

import (
	"strings"

	"github.com/urfave/cli/v2"

	"mk/format"
)

func topicCommand() *cli.Command {
	configFlag := &cli.StringSliceFlag{Name: "config", Usage: "topic config `KEY=VALUE` (repeatable), Kafka's names: retention.ms, segment.bytes, ..."}
	return &cli.Command{
		Name:  "topic",
		Usage: "create, list, alter and delete topics",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a topic",
				ArgsUsage: "NAME",
				Description: `Partitions are spread over the live brokers as Kafka spreads them.

   mk topic create orders --partitions 3 --replication-factor 2
   mk topic create logs --config retention.ms=3600000 --config segment.bytes=1048576`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "partitions", Aliases: []string{"p"}, Usage: "number of partitions (default: the cluster's num.partitions)"},
					&cli.IntFlag{Name: "replication-factor", Aliases: []string{"r"}, Usage: "replicas per partition (default: the cluster's default.replication.factor)"},
					configFlag,
					&cli.BoolFlag{Name: "if-not-exists", Usage: "succeed quietly when the topic exists"},
				},
			},
			{
				Name:        "list",
				Usage:       "list topics",
				ArgsUsage:   " ",
				Flags:       []cli.Flag{outputFlag()},
				Description: "   mk topic list\n   mk topic list -o json | jq -r '.[].topic'",
			},
			{
				Name:        "describe",
				Usage:       "describe a topic (same as mk describe topic)",
				ArgsUsage:   "NAME",
				Flags:       []cli.Flag{outputFlag()},
				Description: "   mk topic describe orders",
			},
			{
				Name:      "alter",
				Usage:     "add partitions or change configs",
				ArgsUsage: "NAME",
				Description: `   mk topic alter orders --partitions 6
   mk topic alter orders --config retention.ms=60000 --delete-config segment.bytes`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "partitions", Aliases: []string{"p"}, Usage: "new partition count (can only grow)"},
					configFlag,
					&cli.StringSliceFlag{Name: "delete-config", Usage: "config `KEY` to reset to its default (repeatable)"},
				},
			},
			{
				Name:        "delete",
				Usage:       "delete a topic and its data",
				ArgsUsage:   "NAME",
				Flags:       []cli.Flag{&cli.BoolFlag{Name: "if-exists", Usage: "succeed quietly when the topic does not exist"}},
				Description: "Removes the topic and every replica's data. A topic created again under the\nsame name gets a new topic id; old offsets of groups are not applied to it.\n\n   mk topic delete orders\n   mk topic delete scratch --if-exists",
			},
		},
	}
}

// parseConfigs turns KEY=VALUE flags into a map.
func parseConfigs(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, format.Usagef("--config %q: want KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

type topicListEntry struct {
	Topic             string            `json:"topic"`
	TopicID           string            `json:"topic_id"`
	Partitions        int               `json:"partitions"`
	ReplicationFactor int               `json:"replication_factor"`
	Config            map[string]string `json:"config"`
}
