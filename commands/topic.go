package commands

import (
	"cmp"
	"errors"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"mk/coord"
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
				Action: topicCreate,
			},
			{
				Name:        "list",
				Usage:       "list topics",
				ArgsUsage:   " ",
				Flags:       []cli.Flag{outputFlag()},
				Action:      topicList,
				Description: "   mk topic list\n   mk topic list -o json | jq -r '.[].topic'",
			},
			{
				Name:        "describe",
				Usage:       "describe a topic (same as mk describe topic)",
				ArgsUsage:   "NAME",
				Flags:       []cli.Flag{outputFlag()},
				Action:      describeTopic,
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
				Action: topicAlter,
			},
			{
				Name:        "delete",
				Usage:       "delete a topic and its data",
				ArgsUsage:   "NAME",
				Flags:       []cli.Flag{&cli.BoolFlag{Name: "if-exists", Usage: "succeed quietly when the topic does not exist"}},
				Action:      topicDelete,
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

func topicCreate(cc *cli.Context) error {
	name, c, err := argAndCluster(cc, "topic name")
	if err != nil {
		return err
	}
	cfg, err := parseConfigs(cc.StringSlice("config"))
	if err != nil {
		return err
	}
	parts, rf := cc.Int("partitions"), cc.Int("replication-factor")
	if !cc.IsSet("partitions") {
		parts = c.ClusterConfig().NumPartitions
	}
	if !cc.IsSet("replication-factor") {
		rf = c.ClusterConfig().DefaultReplicationFactor
	}
	t, err := c.CreateTopic(name, parts, rf, cfg)
	if errors.Is(err, coord.ErrTopicExists) && cc.Bool("if-not-exists") {
		return nil
	}
	if err != nil {
		return err
	}
	if format.IsTerminal(os.Stderr) {
		format.Infof(cc.App.ErrWriter, "created topic %s (%d partitions, replication factor %d)", t.Name, len(t.Partitions), t.ReplicationFactor())
	}
	return nil
}

type topicListEntry struct {
	Topic             string            `json:"topic"`
	TopicID           string            `json:"topic_id"`
	Partitions        int               `json:"partitions"`
	ReplicationFactor int               `json:"replication_factor"`
	Config            map[string]string `json:"config"`
}

func topicList(cc *cli.Context) error {
	mode, c, d, err := outputAndCluster(cc)
	if err != nil {
		return err
	}
	ts, bad, err := c.TopicsReadable()
	if err != nil {
		return err
	}
	d.add(bad...)
	entries := []topicListEntry{}
	var rows [][]string
	for _, t := range ts {
		entries = append(entries, topicListEntry{t.Name, t.ID, len(t.Partitions), t.ReplicationFactor(), t.Config})
		rows = append(rows, []string{t.Name, format.Int(int64(len(t.Partitions))), format.Int(int64(t.ReplicationFactor())), configSummary(t)})
	}
	if mode == "json" {
		return cmp.Or(format.JSON(cc.App.Writer, entries), d.report(cc))
	}
	return cmp.Or(format.Table(cc.App.Writer, []string{"TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "CONFIGS"}, rows), d.report(cc))
}

// configSummary lists a topic's non-default configs as k=v,k=v.
func configSummary(t *coord.Topic) string {
	var kv []string
	for _, k := range coord.ConfigKeys() {
		if v, ok := t.Config[k]; ok {
			kv = append(kv, k+"="+v)
		}
	}
	return strings.Join(kv, ",")
}

func topicAlter(cc *cli.Context) error {
	name, c, err := argAndCluster(cc, "topic name")
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
	_, err = c.AlterTopic(name, cc.Int("partitions"), cfg, cc.StringSlice("delete-config"))
	return err
}

func topicDelete(cc *cli.Context) error {
	name, c, err := argAndCluster(cc, "topic name")
	if err != nil {
		return err
	}
	err = c.DeleteTopic(name)
	if errors.Is(err, coord.ErrUnknownTopic) && cc.Bool("if-exists") {
		return nil
	}
	return err
}
