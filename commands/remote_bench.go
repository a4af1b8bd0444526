package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"mk/client"
	"mk/cluster"
	"mk/coord"
	"mk/format"
	"mk/logdir"
)

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
