package commands

import (
	"cmp"
	"errors"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"mk/cluster"
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
	ctx, stop := timeoutContext(cc)
	defer stop()
	t, err := c.CreateTopic(ctx, spec)
	if errors.Is(err, coord.ErrTopicExists) && cc.Bool("if-not-exists") {
		return nil
	}
	if err != nil {
		return err
	}
	if format.IsTerminal(os.Stderr) {
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
	ctx, stop := timeoutContext(cc)
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
	ctx, stop := timeoutContext(cc)
	defer stop()
	err = c.DeleteTopic(ctx, name)
	if errors.Is(err, coord.ErrUnknownTopic) && cc.Bool("if-exists") {
		return nil
	}
	return err
}
