package commands

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/cluster"
	"mk/coord"
	"mk/format"
	"mk/logdir"
)

func benchCommand() *cli.Command {
	topicFlags := []cli.Flag{
		&cli.StringFlag{Name: "topic", Value: "bench", Usage: "topic (created with --partitions if missing)"},
		&cli.IntFlag{Name: "partitions", Value: 1, Usage: "partitions of a topic the bench creates"},
		&cli.IntFlag{Name: "replication-factor", Value: 1, Usage: "replication factor of a topic the bench creates"},
		outputFlag(),
	}
	return &cli.Command{
		Name:  "bench",
		Usage: "measure produce, consume and end-to-end speed (like kafka-producer-perf-test)",
		Description: `Whole-process figures on a running cluster. Quote them as ratios against a
baseline measured in the same session (bench/run.sh times cat on the same
bytes), since shared machines are noisy.

   mk bench produce --records 2000000 --record-size 100 --acks 1
   mk bench consume --topic bench
   mk bench e2e --rate 1000 --records 5000          # produce-to-consume latency
   mk bench exec -- mk produce t < lines.txt        # wall time, CPU, peak RSS of any command`,
		Subcommands: []*cli.Command{
			{
				Name:      "produce",
				Usage:     "send generated records as fast as possible (or at --rate); records/s, MB/s, latency",
				ArgsUsage: " ",
				Flags: append(slices.Clone(topicFlags),
					&cli.Int64Flag{Name: "records", Value: 1000000, Usage: "records to send"},
					&cli.IntFlag{Name: "record-size", Value: 100, Usage: "value bytes per record"},
					&cli.StringFlag{Name: "acks", Value: "1", Usage: "0, 1 or all"},
					&cli.IntFlag{Name: "batch-size", Value: 1000000, Usage: "largest batch in bytes (as mk produce)"},
				),
			},
			{
				Name:        "consume",
				Usage:       "read a topic from the beginning to its end; records/s, MB/s",
				ArgsUsage:   " ",
				Flags:       []cli.Flag{&cli.StringFlag{Name: "topic", Value: "bench", Usage: "topic to read (made by mk bench produce)"}, outputFlag()},
				Description: "   mk bench produce --topic bench --records 2000000\n   mk bench consume --topic bench",
			},
			{
				Name:      "e2e",
				Usage:     "produce at a fixed rate to a following consumer; produce-to-consume latency percentiles",
				ArgsUsage: " ",
				Flags: append(slices.Clone(topicFlags),
					&cli.IntFlag{Name: "rate", Value: 1000, Usage: "records per second"},
					&cli.Int64Flag{Name: "records", Value: 5000, Usage: "records to send"},
					&cli.IntFlag{Name: "record-size", Value: 100, Usage: "value bytes per record"},
					&cli.StringFlag{Name: "acks", Value: "1", Usage: "0, 1 or all"},
				),
			},
			{
				Name:      "exec",
				Usage:     "run a command; print its wall time, CPU time and peak RSS",
				ArgsUsage: "-- COMMAND [ARGS...]",
				Flags:     []cli.Flag{outputFlag()},
				Action:    benchExec,
			},
		},
	}
}

// benchResult is what a bench prints.
type benchResult struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	LatencyAvgMs  float64 `json:"latency_avg_ms,omitempty"`
	LatencyP50Ms  float64 `json:"latency_p50_ms,omitempty"`
	LatencyP95Ms  float64 `json:"latency_p95_ms,omitempty"`
	LatencyP99Ms  float64 `json:"latency_p99_ms,omitempty"`
	LatencyP999Ms float64 `json:"latency_p999_ms,omitempty"`
	LatencyMaxMs  float64 `json:"latency_max_ms,omitempty"`
}

func newBenchResult(records, bytes int64, elapsed time.Duration, lat []time.Duration) benchResult {
	r := benchResult{Records: records, Bytes: bytes, Seconds: elapsed.Seconds()}
	if s := elapsed.Seconds(); s > 0 {
		r.RecordsPerSec = float64(records) / s
		r.MBPerSec = float64(bytes) / s / 1e6
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		var sum time.Duration
		for _, l := range lat {
			sum += l
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		at := func(q float64) float64 { return ms(lat[min(len(lat)-1, int(q*float64(len(lat))))]) }
		r.LatencyAvgMs = ms(sum / time.Duration(len(lat)))
		r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyP999Ms = at(0.50), at(0.95), at(0.99), at(0.999)
		r.LatencyMaxMs = ms(lat[len(lat)-1])
	}
	return r
}

func printBench(cc *cli.Context, what string, r benchResult) error {
	mode, err := outputMode(cc)
	if err != nil {
		return err
	}
	if mode == "json" {
		return format.JSON(cc.App.Writer, r)
	}
	line := fmt.Sprintf("%d records %s in %.2f s, %.0f records/sec (%.2f MB/sec)", r.Records, what, r.Seconds, r.RecordsPerSec, r.MBPerSec)
	if r.LatencyMaxMs > 0 {
		line += fmt.Sprintf(", latency avg %.3f ms, p50 %.3f ms, p95 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms",
			r.LatencyAvgMs, r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms, r.LatencyP999Ms, r.LatencyMaxMs)
	}
	_, err = fmt.Fprintln(cc.App.Writer, line)
	return err
}

// benchValue makes a printable value of size bytes.
func benchValue(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'a' + byte(rand.IntN(26))
	}
	return v
}

// benchExec runs a command and reports its wall time, CPU time and peak
// resident memory (from the kernel's rusage).
func benchExec(cc *cli.Context) error {
	args := cc.Args().Slice()
	if len(args) == 0 {
		return format.Usagef("bench exec: missing command")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return err
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	res := map[string]any{
		"command":      strings.Join(args, " "),
		"exit_code":    cmd.ProcessState.ExitCode(),
		"wall_seconds": wall.Seconds(),
		"user_seconds": time.Duration(ru.Utime.Nano()).Seconds(),
		"sys_seconds":  time.Duration(ru.Stime.Nano()).Seconds(),
		"max_rss_kib":  ru.Maxrss,
	}
	mode, merr := outputMode(cc)
	if merr != nil {
		return merr
	}
	if mode == "json" {
		format.JSON(cc.App.ErrWriter, res)
	} else {
		fmt.Fprintf(cc.App.ErrWriter, "mk: bench exec: %s: exit %d, wall %.3f s, user %.3f s, sys %.3f s, peak rss %d KiB\n",
			res["command"], res["exit_code"], wall.Seconds(), res["user_seconds"], res["sys_seconds"], ru.Maxrss)
	}
	return err
}

// mk bench against a cluster.Client.

// benchTopicOf opens the bench topic, creating it when create says so.
func benchTopicOf(ctx context.Context, cc *cli.Context, c cluster.Client, create bool) (*cluster.TopicView, error) {
	name := cc.String("topic")
	t, err := c.Topic(ctx, name)
	switch {
	case errors.Is(err, coord.ErrUnknownTopic) && create:
		if _, err := c.CreateTopic(ctx, cluster.TopicSpec{Name: name, Partitions: cc.Int("partitions"), ReplicationFactor: cc.Int("replication-factor")}); err != nil {
			return nil, err
		}
		return c.Topic(ctx, name)
	case errors.Is(err, coord.ErrUnknownTopic):
		return nil, fmt.Errorf("%w; write one first with mk bench produce --topic %s", err, name)
	}
	return t, err
}

// benchProducer opens a producer of the bench topic and checks
// --record-size against its max.message.bytes before allocating.
func benchProducer(ctx context.Context, cc *cli.Context, c cluster.Client, acks int, batch int) (cluster.Producer, int, error) {
	p, err := c.NewProducer(ctx, cc.String("topic"), cluster.ProducerOptions{Acks: acks, BatchBytes: batch})
	if err != nil {
		return nil, 0, err
	}
	size := cc.Int("record-size")
	const overhead = 61 + 21 // a batch of one record: header and the record's framing
	if limit := p.MaxMessageBytes(); int64(size)+overhead > limit {
		p.Close()
		return nil, 0, format.Usagef("--record-size %d: a record of that size does not fit in max.message.bytes %d of topic %s", size, limit, cc.String("topic"))
	}
	return p, size, nil
}

func benchProduceTo(cc *cli.Context, connect connector) error {
	acks, err := parseAcks(cc.String("acks"))
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	if _, err := benchTopicOf(ctx, cc, c, true); err != nil {
		return err
	}
	p, size, err := benchProducer(ctx, cc, c, acks, cc.Int("batch-size"))
	if err != nil {
		return err
	}
	value := benchValue(size)
	n := cc.Int64("records")
	start := time.Now()
	now := start.UnixMilli()
	for i := int64(0); i < n; i++ {
		if i%1024 == 0 {
			now = time.Now().UnixMilli()
		}
		if err := p.Send(-1, now, nil, value, nil); err != nil {
			p.Close()
			return err
		}
	}
	if err := p.Close(); err != nil {
		return err
	}
	return printBench(cc, "sent", newBenchResult(n, n*int64(len(value)), time.Since(start), nil))
}

func benchConsumeFrom(cc *cli.Context, connect connector) error {
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	ctx, stop := requestContext()
	defer stop()
	t, err := benchTopicOf(ctx, cc, c, false)
	if err != nil {
		return err
	}
	var records, bytes int64
	start := time.Now()
	err = c.Consume(ctx, cluster.ConsumeSpec{Topics: []string{t.Topic}, Partition: -1, Start: client.StartSpec{Offset: client.Earliest}},
		func(_ string, _ int32, r *logdir.Record) error {
			records++
			bytes += int64(len(r.Value))
			return nil
		})
	if err != nil {
		return err
	}
	return printBench(cc, "read", newBenchResult(records, bytes, time.Since(start), nil))
}

// benchE2EOn produces at a fixed rate to a following consumer started at
// the first record at or after the bench's start time.
func benchE2EOn(cc *cli.Context, connect connector) error {
	acks, err := parseAcks(cc.String("acks"))
	if err != nil {
		return err
	}
	c, cerr := connect()
	if cerr != nil {
		return cerr
	}
	sctx, stop := requestContext()
	defer stop()
	t, err := benchTopicOf(sctx, cc, c, true)
	if err != nil {
		return err
	}
	n, rate := cc.Int64("records"), cc.Int("rate")
	p, size, err := benchProducer(sctx, cc, c, acks, 16<<10)
	if err != nil {
		return err
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(sctx)
	defer cancel()
	lat := make([]time.Duration, 0, min(n, 1<<20))
	var mu sync.Mutex
	var received int64
	done := make(chan error, 1)
	from := time.Now().UnixMilli()
	go func() {
		done <- c.Consume(ctx, cluster.ConsumeSpec{Topics: []string{t.Topic}, Partition: -1, Start: client.StartSpec{ByTime: true, FromTime: from}, Follow: true},
			func(_ string, _ int32, r *logdir.Record) error {
				if len(r.Value) < 16 {
					return nil
				}
				sent, err := strconv.ParseInt(string(r.Value[:16]), 16, 64)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
					received++
				}
				if received >= n {
					return client.ErrStop
				}
				return nil
			})
	}()
	value := benchValue(max(size, 16))
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		next := start.Add(time.Duration(i) * interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		copy(value, fmt.Sprintf("%016x", time.Now().UnixNano()))
		if err := p.Send(-1, time.Now().UnixMilli(), nil, value, nil); err != nil {
			return err
		}
		if err := p.Idle(); err != nil {
			return err
		}
	}
	if err := p.Flush(); err != nil {
		return err
	}
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("bench e2e: the consumer saw %d of %d records", received, n)
	}
	mu.Lock()
	defer mu.Unlock()
	return printBench(cc, "produced and consumed", newBenchResult(received, received*int64(len(value)), time.Since(start), lat))
}
