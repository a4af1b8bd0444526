package commands

import (
	"bufio"
	"cmp"
	"os"
	"strconv"

	"github.com/urfave/cli/v2"

	"mk/cluster"
	"mk/coord"
	"mk/format"
	"mk/logdir"
)

// produceFlags are mk produce's flags, read.
type produceFlags struct {
	topic     string
	acks      int
	json      bool
	headers   []logdir.Header
	key       []byte
	separator []byte
	partition int32
}

func readProduceFlags(cc *cli.Context) (produceFlags, error) {
	var f produceFlags
	var err error
	if f.topic, err = oneArg(cc, "topic"); err != nil {
		return f, err
	}
	if f.acks, err = parseAcks(cc.String("acks")); err != nil {
		return f, err
	}
	switch cc.String("input") {
	case "text":
	case "json":
		f.json = true
	default:
		return f, format.Usagef("--input %q: use text or json", cc.String("input"))
	}
	if f.headers, err = parseHeaders(cc.StringSlice("header")); err != nil {
		return f, err
	}
	if cc.IsSet("key") {
		f.key = []byte(cc.String("key"))
	}
	f.separator = []byte(cc.String("key-separator"))
	if cc.IsSet("key-separator") && len(f.separator) == 0 {
		return f, format.Usagef("--key-separator must not be empty")
	}
	if f.key != nil && len(f.separator) > 0 {
		return f, format.Usagef("--key and --key-separator exclude each other")
	}
	f.partition = int32(cc.Int("partition"))
	return f, coord.ValidateTopicName(f.topic)
}

// produceTo is mk produce against a cluster.Client.
func produceTo(cc *cli.Context, connect connector) error {
	f, err := readProduceFlags(cc)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(cc.App.Writer)
	defer out.Flush()
	opts := cluster.ProducerOptions{
		Acks:       f.acks,
		BatchBytes: cc.Int("batch-size"),
		Timeout:    cc.Duration("timeout"),
		AutoCreate: true,
		Warnf:      warnf(cc.App.ErrWriter),
		OnCreate: func(topic string, partitions, rf int) {
			format.Warnf(cc.App.ErrWriter, "topic %s did not exist: created it with %d partition(s), replication factor %d", topic, partitions, rf)
		},
	}
	if cc.Bool("print-offsets") {
		opts.OnAck = func(partition int32, base int64, n int) {
			for i := 0; i < n; i++ {
				out.WriteString(f.topic)
				out.WriteByte(' ')
				out.WriteString(strconv.Itoa(int(partition)))
				out.WriteByte(' ')
				out.WriteString(strconv.FormatInt(base+int64(i), 10))
				out.WriteByte('\n')
			}
		}
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	p, err := c.NewProducer(ctx, f.topic, opts)
	if err != nil {
		return err
	}
	if int(f.partition) >= p.Partitions() {
		p.Close()
		return clientPartitionRange(f.topic, int(f.partition), p.Partitions())
	}
	// A long pipe into a terminal session shows how far it got (on stderr,
	// only when stderr is a terminal).
	progress := format.NewProgress(os.Stderr)
	defer progress.Done()
	sendErr := cluster.ProduceLines(p, bufio.NewReaderSize(cc.App.Reader, 1<<20), cluster.LineOptions{
		Topic: f.topic, JSON: f.json, Key: f.key, KeySeparator: f.separator, Headers: f.headers, Partition: f.partition,
		Progress: func(acked int64) {
			if progress.Active() {
				progress.Update("produced %d records to %s", acked, f.topic)
			}
		},
	})
	closeErr := p.Close()
	if ferr := out.Flush(); ferr != nil && sendErr == nil {
		sendErr = ferr
	}
	if err := cluster.NotAcknowledged(p, sendErr, closeErr); err != nil {
		return format.WithExitCode(format.ExitNotAcknowledged, err)
	}
	return cmp.Or(sendErr, closeErr)
}
