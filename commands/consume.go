package commands

import (
	"bufio"
	"context"
	"io"
	"os"
	"slices"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/cluster"
	"mk/format"
	"mk/logdir"
)

// recordOutputFlags are how consume and tail print records.
func recordOutputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text (the value, one per line) or json (one object per line, binary-safe; mk produce --input json reads it back)"},
		&cli.BoolFlag{Name: "print-key", Usage: "print the key and a separator before the value"},
		&cli.StringFlag{Name: "key-separator", Value: "\t", Usage: "separator after the key with --print-key"},
		&cli.StringFlag{Name: "format", Usage: "Go text/template per record: {{.Topic}} {{.Partition}} {{.Offset}} {{.Timestamp}} {{.Key}} {{.Value}} {{.Headers}}; \\n and \\t are escapes"},
		&cli.IntFlag{Name: "max-messages", Aliases: []string{"n"}, Usage: "exit after printing this many records"},
		&cli.BoolFlag{Name: "exit-at-end", Aliases: []string{"e"}, Usage: "exit once caught up with every partition's high watermark"},
	}
}

func consumeCommand() *cli.Command {
	return &cli.Command{
		Name:      "consume",
		Usage:     "print a topic's records to stdout",
		ArgsUsage: "TOPIC [TOPIC...]",
		Description: `Prints committed records (below each partition's high watermark) as they are
committed. Without --from-beginning, --offset or --from-time a consumer that
follows starts at the end, like Kafka's console consumer; with -e (exit once
caught up), which would then print nothing, it starts at the beginning, like
kcat -e: mk consume orders -e prints the whole topic. A group member
(--group) starts at the group's committed offsets; where there is none, at
the end, or at the beginning with --from-beginning or -e.

A partition without a live leader makes -e exit 5; a following consumer
waits for a leader and says so on stderr. A topic deleted under the
consumer ends it with exit 4.

   mk consume orders --from-beginning -e
   mk consume orders --partition 2 --offset -10 -e          # the last 10 of partition 2
   mk consume orders --from-time 1h -e --print-key           # the last hour
   mk consume orders -e -o json | mk produce copy --input json
   mk consume orders -e --format '{{.Partition}}/{{.Offset}} {{.Key}}={{.Value}}\n'`,
		Flags: append(append(recordOutputFlags(),
			&cli.BoolFlag{Name: "from-beginning", Usage: "start at each partition's log start offset"},
			&cli.IntFlag{Name: "partition", Aliases: []string{"p"}, Value: -1, Usage: "consume only this partition"},
			&cli.StringFlag{Name: "offset", Usage: "start offset with --partition: N, earliest, latest, or -N (N before the end)"},
			&cli.StringFlag{Name: "from-time", Usage: "start at the first record at or after a time: RFC 3339 (2024-05-01T10:00:00Z) or a duration ago (90s, 1h)"},
		), groupFlags()...),
	}
}

func tailCommand() *cli.Command {
	return &cli.Command{
		Name:      "tail",
		Usage:     "print the last records of each partition, then follow (like tail -f)",
		ArgsUsage: "TOPIC",
		Description: `   mk tail orders            # the last 10 records of each partition, then new ones
   mk tail orders -n 100 -e  # the last 100 of each partition, then exit`,
		Flags: append(recordOutputFlags()[:4],
			&cli.Int64Flag{Name: "lines", Aliases: []string{"n"}, Value: 10, Usage: "records to show from the end of each partition"},
			&cli.BoolFlag{Name: "exit-at-end", Aliases: []string{"e"}, Usage: "do not follow: exit after the last records"},
			// No -n alias here: -n is --lines, as in tail(1).
			&cli.IntFlag{Name: "max-messages", Usage: "exit after printing this many records"},
		),
	}
}

// parseStart reads --from-beginning, --offset and --from-time.
func parseStart(cc *cli.Context) (client.StartSpec, error) {
	s := client.StartSpec{Offset: client.Latest}
	n := 0
	if cc.Bool("from-beginning") {
		s.Offset = client.Earliest
		n++
	}
	if v := cc.String("offset"); v != "" {
		n++
		if cc.Int("partition") < 0 {
			return s, format.Usagef("--offset needs --partition")
		}
		switch {
		case v == "earliest" || v == "beginning":
			s.Offset = client.Earliest
		case v == "latest" || v == "end":
			s.Offset = client.Latest
		default:
			o, fromEnd, err := parseOffsetArg(v)
			if err != nil {
				return s, format.Usagef("--offset %q: use a number, earliest, latest or -N", v)
			}
			if fromEnd {
				s.FromEnd = o
			} else {
				s.Offset = o
			}
		}
	}
	if v := cc.String("from-time"); v != "" {
		n++
		ms, err := parseTimeArg("--from-time", v)
		if err != nil {
			return s, err
		}
		s.ByTime, s.FromTime = true, ms
	}
	if n > 1 {
		return s, format.Usagef("use only one of --from-beginning, --offset and --from-time")
	}
	if n == 0 && cc.Bool("exit-at-end") {
		s.Offset = client.Earliest // starting at the end, -e would print nothing
	}
	return s, nil
}

// topicArgs are the topics named on the command line, each once: a topic
// named twice is consumed once, not printed twice.
func topicArgs(cc *cli.Context) []string {
	var out []string
	for _, t := range cc.Args().Slice() {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// recordPrinter writes records as the output flags say.
type recordPrinter struct {
	w        *bufio.Writer
	json     bool
	printKey bool
	keySep   string
	tmpl     *format.Template
	buf      []byte
}

func newRecordPrinter(cc *cli.Context, w io.Writer) (*recordPrinter, error) {
	p := &recordPrinter{w: bufio.NewWriterSize(w, 64<<10), printKey: cc.Bool("print-key"), keySep: cc.String("key-separator")}
	switch cc.String("output") {
	case "text":
	case "json":
		p.json = true
	default:
		return nil, format.Usagef("--output %q: use text or json", cc.String("output"))
	}
	if t := cc.String("format"); t != "" {
		if p.json {
			return nil, format.Usagef("--format and -o json exclude each other")
		}
		tmpl, err := format.ParseTemplate(t)
		if err != nil {
			return nil, format.Usagef("--format: %v", err)
		}
		p.tmpl = tmpl
	}
	return p, nil
}

// null is how Kafka's console consumer prints a null key or value.
const null = "null"

func (p *recordPrinter) print(topic string, partition int32, r *logdir.Record) error {
	switch {
	case p.json:
		p.buf = format.AppendRecordJSON(p.buf[:0], topic, partition, r) // ends with its newline
		_, err := p.w.Write(p.buf)
		return err
	case p.tmpl != nil:
		return p.tmpl.Execute(p.w, topic, partition, r)
	}
	if p.printKey {
		if r.Key == nil {
			p.w.WriteString(null)
		} else {
			p.w.Write(r.Key)
		}
		p.w.WriteString(p.keySep)
	}
	if r.Value == nil {
		p.w.WriteString(null)
	} else {
		p.w.Write(r.Value)
	}
	return p.w.WriteByte('\n')
}

// printUntilDone runs a consumer (a Fetcher's or a group member's Run)
// with a handler that prints each record and stops after maxMessages (0:
// no limit), until it ends or SIGINT/SIGTERM; then it flushes stdout. An
// interrupted consumer exits 130 without a message: the signal says why.
func printUntilDone(pr *recordPrinter, maxMessages int, run func(context.Context, client.Handler) error) error {
	ctx, stop := signalContext()
	defer stop()
	printed := 0
	err := run(ctx, func(topic string, partition int32, r *logdir.Record) error {
		if err := pr.print(topic, partition, r); err != nil {
			return err
		}
		printed++
		if maxMessages > 0 && printed >= maxMessages {
			return client.ErrStop
		}
		return nil
	})
	if ferr := pr.w.Flush(); err == nil {
		err = ferr
	}
	if err == nil && ctx.Err() != nil {
		return &format.ExitError{Code: format.ExitInterrupted}
	}
	return err
}

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
