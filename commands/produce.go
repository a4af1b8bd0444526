package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/coord"
	"mk/format"
	"mk/logdir"
)

func produceCommand() *cli.Command {
	return &cli.Command{
		Name:      "produce",
		Usage:     "send the lines of stdin to a topic, one record per line",
		ArgsUsage: "TOPIC",
		Description: `Each line of stdin is one record's value (a trailing \r is dropped). Records
with a key go to the partition Kafka's Java client would choose
(murmur2 of the key); records without one use a sticky partitioner.
Silent on success; the exit status says whether every record was
acknowledged (3: some were not; stderr says how many).

   seq 1000 | mk produce orders
   echo 'u1:{"total":12}' | mk produce orders --key-separator :
   mk consume a -o json -e | mk produce b --input json     # copy a topic

With --input json each line is an object as mk consume -o json prints it:
{"key":..., "value":..., "headers":[{"key":..,"value":..}], "partition":N,
"timestamp":MS}; every field is optional; "key_encoding"/"value_encoding":
"base64" carry binary data.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "key for every record"},
			&cli.StringFlag{Name: "key-separator", Usage: "split each line at the first `SEP` into key and value"},
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, Usage: "header `KEY=VALUE` for every record (repeatable)"},
			&cli.IntFlag{Name: "partition", Aliases: []string{"p"}, Value: -1, Usage: "send every record to this partition"},
			&cli.StringFlag{Name: "acks", Value: "all", Usage: "0 (do not wait), 1 (leader has it) or all (every in-sync replica has it)"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long to wait for a leader or for acks (delivery.timeout.ms)"},
			&cli.StringFlag{Name: "input", Value: "text", Usage: "text (one value per line) or json (one record object per line)"},
			&cli.BoolFlag{Name: "print-offsets", Usage: "print TOPIC PARTITION OFFSET for every acknowledged record"},
			&cli.IntFlag{Name: "batch-size", Value: 16384, Usage: "bytes per record batch (batch.size)"},
		},
		Action: runProduce,
	}
}

// parseAcks reads --acks.
func parseAcks(s string) (int, error) {
	switch strings.ToLower(s) {
	case "0":
		return client.AcksNone, nil
	case "1":
		return client.AcksLeader, nil
	case "all", "-1":
		return client.AcksAll, nil
	}
	return 0, format.Usagef("--acks %q: use 0, 1 or all", s)
}

func parseHeaders(hs []string) ([]logdir.Header, error) {
	var out []logdir.Header
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, format.Usagef("--header %q: want KEY=VALUE", h)
		}
		out = append(out, logdir.Header{Key: []byte(k), Value: []byte(v)})
	}
	return out, nil
}

func runProduce(cc *cli.Context) error {
	topic, err := oneArg(cc, "topic")
	if err != nil {
		return err
	}
	acks, err := parseAcks(cc.String("acks"))
	if err != nil {
		return err
	}
	jsonInput := false
	switch cc.String("input") {
	case "text":
	case "json":
		jsonInput = true
	default:
		return format.Usagef("--input %q: use text or json", cc.String("input"))
	}
	headers, err := parseHeaders(cc.StringSlice("header"))
	if err != nil {
		return err
	}
	var fixedKey []byte
	if cc.IsSet("key") {
		fixedKey = []byte(cc.String("key"))
	}
	sep := []byte(cc.String("key-separator"))
	if cc.IsSet("key-separator") && len(sep) == 0 {
		return format.Usagef("--key-separator must not be empty")
	}
	if fixedKey != nil && len(sep) > 0 {
		return format.Usagef("--key and --key-separator exclude each other")
	}
	c, err := openCluster(cc)
	if err != nil {
		return err
	}
	if _, err := c.RequireLiveBroker(); err != nil {
		return err
	}
	if err := coord.ValidateTopicName(topic); err != nil {
		return err
	}
	out := bufio.NewWriter(cc.App.Writer)
	defer out.Flush()
	opts := client.ProducerOptions{
		Acks:       acks,
		BatchBytes: cc.Int("batch-size"),
		Timeout:    cc.Duration("timeout"),
		AutoCreate: true,
		Warnf:      warnf(cc.App.ErrWriter),
		OnCreate: func(t *coord.Topic) {
			format.Warnf(cc.App.ErrWriter, "topic %s did not exist: created it with %d partition(s), replication factor %d", t.Name, len(t.Partitions), t.ReplicationFactor())
		},
	}
	if cc.Bool("print-offsets") {
		opts.OnAck = func(partition int32, base int64, n int) {
			for i := 0; i < n; i++ {
				out.WriteString(topic)
				out.WriteByte(' ')
				out.WriteString(strconv.Itoa(int(partition)))
				out.WriteByte(' ')
				out.WriteString(strconv.FormatInt(base+int64(i), 10))
				out.WriteByte('\n')
			}
		}
	}
	p, err := client.NewProducer(c, topic, opts)
	if err != nil {
		return err
	}
	partition := int32(cc.Int("partition"))
	if partition >= int32(len(p.Topic().Partitions)) {
		return client.PartitionRangeError(topic, int(partition), len(p.Topic().Partitions))
	}
	// The line limit is the largest record the topic takes, plus room for
	// the JSON encoding of one.
	maxLine := int(p.Topic().Int64Config("max.message.bytes"))
	if jsonInput {
		maxLine = maxLine*2 + 4096
	}
	in := bufio.NewReaderSize(cc.App.Reader, 1<<20)
	lines := format.NewLineReader(in, maxLine)
	var dec format.RecordDecoder
	// A long pipe into a terminal session shows how far it got (on stderr,
	// only when stderr is a terminal).
	progress := format.NewProgress(os.Stderr)
	defer progress.Done()
	sendErr := func() error {
		for {
			line, err := lines.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			var tooLong *format.LineTooLongError
			if errors.As(err, &tooLong) {
				return fmt.Errorf("line %d: record is larger than max.message.bytes %d of topic %s", tooLong.Line, p.Topic().Int64Config("max.message.bytes"), topic)
			}
			if err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			key, value, hs, part, ts := fixedKey, line, headers, partition, time.Now().UnixMilli()
			if jsonInput {
				rec, err := dec.Decode(line)
				if err != nil {
					return format.AtLine(err, lines.Line())
				}
				key, value = rec.Key, rec.Value
				if len(rec.Headers) > 0 {
					hs = append(hs[:len(hs):len(hs)], rec.Headers...)
				}
				if rec.Partition >= 0 && partition < 0 {
					part = rec.Partition
				}
				if rec.Timestamp >= 0 {
					ts = rec.Timestamp
				}
			} else if len(sep) > 0 {
				k, v, ok := format.SplitKey(line, sep)
				if !ok {
					return fmt.Errorf("line %d: no key separator %q", lines.Line(), sep)
				}
				key, value = k, v
			}
			if n := lines.Line(); n&0xffff == 0 && progress.Active() {
				progress.Update("produced %d records to %s", p.Acked, topic)
			}
			err = p.Send(part, ts, key, value, hs)
			var big *client.RecordTooLargeError
			if errors.As(err, &big) {
				return fmt.Errorf("line %d: %w of topic %s", lines.Line(), err, topic)
			}
			if err != nil {
				return err
			}
			if !lines.Buffered() && in.Buffered() == 0 {
				// The input went idle: send what is batched now rather than
				// wait for more (a producer typing, or a slow pipe).
				if err := p.Flush(); err != nil {
					return err
				}
			}
		}
	}()
	closeErr := p.Close()
	if ferr := out.Flush(); ferr != nil && sendErr == nil {
		sendErr = ferr
	}
	if p.Failed > 0 {
		cause := closeErr
		if cause == nil {
			cause = sendErr
		}
		return format.WithExitCode(format.ExitNotAcknowledged,
			fmt.Errorf("%d of %d records were not acknowledged: %w", p.Failed, p.Failed+p.Acked, cause))
	}
	if sendErr != nil {
		return sendErr
	}
	return closeErr
}
