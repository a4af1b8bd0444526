package commands

import (
	"cmp"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/cluster"
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
acknowledged (3: some were not; stderr says how many). With --acks all
(the default) the producer is idempotent, as Kafka's: its batches carry a
producer id and sequence numbers, so it retries every retriable failure,
a broker gone before answering or a leader change before replication
included, until --timeout, and a batch the leader already holds is not
stored again. SIGINT or SIGTERM stops the reading between two lines: what
was read is still sent and waited for (up to --timeout; a second signal
ends at once), the offsets of what was acknowledged are printed, stderr
says how many were not, and the exit status is 130.

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
			&cli.StringSliceFlag{Name: "header", Aliases: []string{"H"}, KeepSpace: true, Usage: "header `KEY=VALUE` for every record (repeatable; KEY alone: a null value; =VALUE: an empty key)"},
			&cli.IntFlag{Name: "partition", Aliases: []string{"p"}, Value: -1, Usage: "send every record to this partition"},
			&cli.StringFlag{Name: "acks", Value: "all", Usage: "0 (do not wait), 1 (leader has it) or all (every in-sync replica has it)"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "how long a record may wait for a leader and its acks, retries included (delivery.timeout.ms)"},
			&cli.BoolFlag{Name: "idempotence", Value: true, Usage: "number the batches so that a retried one is stored once (enable.idempotence; needs --acks all; --idempotence=false turns it off)"},
			&cli.StringFlag{Name: "input", Value: "text", Usage: "text (one value per line) or json (one record object per line)"},
			&cli.BoolFlag{Name: "print-offsets", Usage: "print TOPIC PARTITION OFFSET for every record, one line per input line in input order, each as soon as its record and those before it are acknowledged (OFFSET - for a record not acknowledged; with --acks 0 the broker tells no offsets: none are printed)"},
			&cli.IntFlag{Name: "batch-size", Value: 1000000, Usage: "largest record batch in bytes (batch.size, capped by the topic's max.message.bytes; Kafka's Java client has 16384, librdkafka 1000000 as here, franz-go 1 MB: a stream goes to the broker in few large batches, and a line that trickles in is sent at once whatever the size)"},
		},
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

// parseHeaders reads --header values. A header's key is a string that
// may be empty (Kafka's record format and Java client allow it: "=v" is
// the key "" and the value "v"), its value bytes or null: "k" alone is a
// null value, as kcat's -H k. Refused: an empty flag (an unset shell
// variable, most likely). Spaces are kept, as kcat keeps them (the flag
// is KeepSpace).
func parseHeaders(hs []string) ([]logdir.Header, error) {
	var out []logdir.Header
	for _, h := range hs {
		if h == "" {
			return nil, format.Usagef("--header \"\": want KEY=VALUE, or KEY for a null value")
		}
		k, v, ok := strings.Cut(h, "=")
		hd := logdir.Header{Key: []byte(k)}
		if ok {
			hd.Value = []byte(v)
		}
		out = append(out, hd)
	}
	return out, nil
}

// produceFlags are mk produce's flags, read.
type produceFlags struct {
	topic     string
	acks      int
	json      bool
	headers   []logdir.Header
	key       []byte
	separator []byte
	partition int32
	// idempotent: --idempotence, on by default with --acks all (as
	// Kafka's producer since 3.0: idempotence is on unless a setting
	// conflicts); --idempotence with --acks 0 or 1 is a usage error.
	idempotent bool
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
	f.idempotent = cc.Bool("idempotence") && f.acks == client.AcksAll
	if cc.IsSet("idempotence") && cc.Bool("idempotence") && f.acks != client.AcksAll {
		return f, format.Usagef("--idempotence needs --acks all (Kafka: must set acks to all in order to use the idempotent producer)")
	}
	return f, coord.ValidateTopicName(f.topic)
}

// produceTo is mk produce against a cluster.Client.
func produceTo(cc *cli.Context, connect connector) error {
	f, err := readProduceFlags(cc)
	if err != nil {
		return err
	}
	opts := cluster.ProducerOptions{
		Acks:       f.acks,
		BatchBytes: cc.Int("batch-size"),
		Timeout:    cc.Duration("timeout"),
		AutoCreate: true,
		Warnf:      warnf(cc.App.ErrWriter),
		Idempotent: f.idempotent,
		OnCreate: func(topic string, partitions, rf int) {
			format.Warnf(cc.App.ErrWriter, "topic %s did not exist: created it with %d partition(s), replication factor %d", topic, partitions, rf)
		},
	}
	var printer *inputOrder
	if cc.Bool("print-offsets") && f.acks != client.AcksNone {
		// (With --acks 0 the broker tells no offsets: none are printed.)
		printer = newInputOrder(cc.App.Writer, f.topic)
		defer printer.close()
		opts.OnRecord = printer.record
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	p, err := c.NewProducer(ctx, f.topic, opts)
	if err != nil {
		if ctx.Err() != nil {
			return format.Exitf(format.ExitInterrupted, "interrupted before the producer was ready: no record was read")
		}
		return err
	}
	if int(f.partition) >= p.Partitions() {
		p.Close()
		return client.PartitionRangeError(f.topic, int(f.partition), p.Partitions())
	}
	// A long pipe into a terminal session shows how far it got (on stderr,
	// only when stderr is a terminal).
	progress := format.NewProgress(os.Stderr)
	defer progress.Done()
	// SIGINT or SIGTERM stops the reading between two lines; what was read
	// is still sent and waited for (up to --timeout), and a second signal
	// ends the process at once.
	input := newInterruptibleInput(ctx, cc.App.Reader)
	go func() {
		<-ctx.Done()
		stop()
	}()
	sendErr := cluster.ProduceLines(p, input, cluster.LineOptions{
		Topic: f.topic, JSON: f.json, Key: f.key, KeySeparator: f.separator, Headers: f.headers, Partition: f.partition,
		Progress: func(acked int64) {
			if progress.Active() {
				progress.Update("produced %d records to %s", acked, f.topic)
			}
		},
	})
	closeErr := p.Close()
	if printer != nil {
		if werr := printer.close(); werr != nil && sendErr == nil {
			sendErr = werr
		}
	}
	if ctx.Err() != nil || errors.Is(sendErr, errInterrupted) {
		// A signal came: the offsets of what was acknowledged are
		// printed; say how many of the records read were not.
		cause := closeErr
		if !errors.Is(sendErr, errInterrupted) {
			cause = cmp.Or(sendErr, closeErr)
		}
		return format.Exitf(format.ExitInterrupted, "interrupted: %d of the %d records read were not acknowledged%s",
			p.Failed(), p.Failed()+p.Acked(), causeOf(cause))
	}
	if err := cluster.NotAcknowledged(p, sendErr, closeErr); err != nil {
		return format.WithExitCode(format.ExitNotAcknowledged, err)
	}
	return cmp.Or(sendErr, closeErr)
}

// causeOf is ": err", or nothing for nil.
func causeOf(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// inputOrder prints --print-offsets lines in the order of the input,
// whatever order the partitions are acknowledged in, so that line N of the
// output is about line N of the input: a record acknowledged before an
// earlier one waits for it to be acknowledged or to fail. A record that
// failed is "TOPIC PARTITION -".
//
// Each line is printed as soon as it can be, not at exit: in a pipeline
// the next command sees a record's offset once it is acknowledged. The
// producer's goroutine only appends to a buffer; a goroutine of the
// printer's own writes it out, everything that came meanwhile in one
// write, so that a stream of a million acknowledgements costs a few
// hundred writes, not a million, and a slow reader of the output does not
// hold up the producer until maxUnwritten bytes wait (then it does, so
// that memory stays bounded). After a write error nothing more is kept.
type inputOrder struct {
	w     io.Writer
	topic string

	mu    sync.Mutex
	buf   []byte // lines not yet written
	next  int64  // the index of the next line to print
	ready []slot // ready[i] is about the record of index next+i
	err   error  // the first write error

	wake    chan struct{} // buf has lines (one value, or none)
	written sync.Cond     // write took buf (on mu)
	done    chan struct{} // closed when write returns
	closed  bool
}

// maxUnwritten is how many bytes of output may wait for a slow reader.
const maxUnwritten = 1 << 20

type slot struct {
	set       bool
	partition int32
	offset    int64
}

func newInputOrder(w io.Writer, topic string) *inputOrder {
	o := &inputOrder{w: w, topic: topic, wake: make(chan struct{}, 1), done: make(chan struct{})}
	o.written.L = &o.mu
	go o.write()
	return o
}

// record is the producer's OnRecord.
func (o *inputOrder) record(index int64, partition int32, offset int64, failed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := int(index - o.next)
	if i < 0 {
		return // told twice; cannot happen
	}
	for len(o.ready) <= i {
		o.ready = append(o.ready, slot{})
	}
	o.ready[i] = slot{true, partition, offset}
	n := 0
	for ; n < len(o.ready) && o.ready[n].set; n++ {
		s := o.ready[n]
		o.buf = append(o.buf, o.topic...)
		o.buf = append(o.buf, ' ')
		o.buf = strconv.AppendInt(o.buf, int64(s.partition), 10)
		o.buf = append(o.buf, ' ')
		if s.offset < 0 {
			o.buf = append(o.buf, '-')
		} else {
			o.buf = strconv.AppendInt(o.buf, s.offset, 10)
		}
		o.buf = append(o.buf, '\n')
	}
	if n > 0 {
		o.ready = o.ready[:copy(o.ready, o.ready[n:])]
		o.next += int64(n)
		if o.err != nil {
			o.buf = o.buf[:0] // nowhere to write it
		}
		if o.closed {
			return // close writes it
		}
		select {
		case o.wake <- struct{}{}:
		default:
		}
		for len(o.buf) >= maxUnwritten && o.err == nil {
			o.written.Wait()
		}
	}
}

// write writes out what record buffered, until close.
func (o *inputOrder) write() {
	defer close(o.done)
	var out []byte
	for range o.wake {
		o.mu.Lock()
		out, o.buf = o.buf, out[:0]
		o.written.Broadcast()
		o.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		_, err := o.w.Write(out)
		if err != nil {
			o.mu.Lock()
			o.err = cmp.Or(o.err, err)
			o.written.Broadcast()
			o.mu.Unlock()
		}
	}
}

// close writes out what is left and returns the first write error; once
// the producer is closed (no record comes after). Closing twice is
// closing once.
func (o *inputOrder) close() error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.wake)
	}
	o.mu.Unlock()
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.buf) > 0 && o.err == nil {
		_, o.err = o.w.Write(o.buf)
		o.buf = o.buf[:0]
	}
	return o.err
}
