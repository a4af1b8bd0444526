package commands

import (
	"context"
	"os"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/cluster"
	"mk/format"
)

var clientPartitionRange = client.PartitionRangeError

// consumeFrom is mk consume against a cluster.Client.
func consumeFrom(cc *cli.Context, connect connector) error {
	if cc.NArg() == 0 {
		return format.Usagef("consume: missing topic")
	}
	start, err := parseStart(cc)
	if err != nil {
		return err
	}
	pr, err := newRecordPrinter(cc, cc.App.Writer)
	if err != nil {
		return err
	}
	if cc.String("group") != "" {
		return groupConsumeIn(cc, connect, pr)
	}
	topics := topicArgs(cc)
	if cc.Int("partition") >= 0 && len(topics) > 1 {
		return format.Usagef("--partition needs exactly one topic")
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	spec := cluster.ConsumeSpec{
		Topics:        topics,
		Partition:     cc.Int("partition"),
		Start:         start,
		Follow:        !cc.Bool("exit-at-end"),
		ResetEarliest: start.Offset == client.Earliest,
		Warnf:         warnf(cc.App.ErrWriter),
		Idle:          pr.w.Flush,
	}
	return printUntilDone(pr, cc.Int("max-messages"), func(ctx context.Context, h client.Handler) error {
		return c.Consume(ctx, spec, h)
	})
}

// tailFrom is mk tail against a cluster.Client.
func tailFrom(cc *cli.Context, connect connector) error {
	topic, err := oneArg(cc, "topic")
	if err != nil {
		return err
	}
	pr, err := newRecordPrinter(cc, cc.App.Writer)
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	spec := cluster.ConsumeSpec{
		Topics:    []string{topic},
		Partition: -1,
		Start:     client.StartSpec{Offset: client.Latest, FromEnd: cc.Int64("lines")},
		Follow:    !cc.Bool("exit-at-end"),
		Warnf:     warnf(cc.App.ErrWriter),
		Idle:      pr.w.Flush,
	}
	return printUntilDone(pr, cc.Int("max-messages"), func(ctx context.Context, h client.Handler) error {
		return c.Consume(ctx, spec, h)
	})
}

// groupConsumeIn is mk consume --group against a cluster.Client.
func groupConsumeIn(cc *cli.Context, connect connector, pr *recordPrinter) error {
	for _, f := range []string{"partition", "offset", "from-time"} {
		if cc.IsSet(f) {
			return format.Usagef("--%s cannot be used with --group: the group assigns partitions and starts at committed offsets", f)
		}
	}
	stderr := cc.App.ErrWriter
	logf := func(string, ...any) {}
	if format.IsTerminal(os.Stderr) {
		logf = infof(stderr)
	}
	// A partition without a committed offset starts by Kafka's
	// auto.offset.reset: latest, or earliest with --from-beginning or -e
	// (-e reads what is there, as it does without a group).
	opts := client.GroupOptions{
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
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	topics := topicArgs(cc)
	return printUntilDone(pr, cc.Int("max-messages"), func(ctx context.Context, h client.Handler) error {
		return c.ConsumeGroup(ctx, topics, opts, h)
	})
}
