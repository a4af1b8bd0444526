// Package client is mk's producer and consumer: the logic a Kafka client
// library holds (partitioning, batching, retries on leader changes, acks,
// fetching below the high watermark, following) as plain Go, for the
// commands and the benchmarks. It appends to and reads from partition
// replicas directly (package logdir); no broker process sits in the data
// path.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"mk/coord"
	"mk/logdir"
)

// Acks values, as Kafka's producer "acks" config.
const (
	AcksNone   = 0  // do not wait: the record is written, errors are not retried
	AcksLeader = 1  // done when the leader's log holds the record
	AcksAll    = -1 // done when the high watermark has passed the record (every ISR member has it)
)

// ProducerOptions configure a Producer.
type ProducerOptions struct {
	Acks int
	// BatchBytes is Kafka's batch.size: records per partition are encoded
	// into batches of about this many bytes (default 16 KiB).
	BatchBytes int
	// Timeout bounds how long one append may wait for a leader or for
	// acks=all (Kafka's delivery.timeout.ms; default 30 s).
	Timeout time.Duration
	// AutoCreate creates an unknown topic with the cluster's defaults (when
	// the cluster allows it).
	AutoCreate bool
	// OnCreate is told when the topic was created by this producer.
	OnCreate func(t *coord.Topic)
	// OnAck is called for every acknowledged batch, in order per partition.
	OnAck func(partition int32, baseOffset int64, count int)
	// OnRecord is called once for every record sent, when it is
	// acknowledged (offset its offset) or failed (offset -1); index counts
	// the Send calls from 0. In order per partition, not across them.
	OnRecord func(index int64, partition int32, offset int64)
	// Warnf, if set, is told once per append that waits for a partition
	// without a leader or without enough in-sync replicas, which may last
	// the whole Timeout.
	Warnf func(format string, args ...any)
	// Idempotent makes the producer idempotent, as Kafka's is by default
	// (enable.idempotence): it gets a producer id from a broker and
	// numbers its batches per partition, so a batch sent again after a
	// failure the producer cannot tell from success (the leader changed
	// before the batch was replicated, say) is stored once. It retries
	// every retriable failure until the Timeout. It needs Acks AcksAll.
	Idempotent bool
}

// maxPendingBytes bounds the records a producer holds that are not yet
// appended, so memory stays bounded whatever the input size.
const maxPendingBytes = 1 << 20

// Producer sends records to one topic. Not safe for concurrent use.
type Producer struct {
	c      *coord.Cluster
	topic  *coord.Topic
	guard  *topicGuard // the topic deleted under the producer
	opts   ProducerOptions
	parts  []*partitionWriter
	sticky *StickyPartitioner
	// available lists the partitions that have a leader in topic, as of
	// availableVersion: the sticky partitioner sends records without a key
	// only there, as Kafka's does.
	available        []int32
	availableVersion int64

	maxBatch int64 // the topic's max.message.bytes
	pending  int   // bytes sealed or being built, not yet appended
	// pid is the idempotent producer's id and epoch (Idempotent only).
	pid      ProducerID
	sent     int64 // Send calls so far: the next record's index
	wake     <-chan struct{}
	stopWake context.CancelFunc

	Acked  int64 // records acknowledged
	Failed int64 // records that could not be acknowledged
}

type partitionWriter struct {
	partition int32
	builder   logdir.BatchBuilder
	sealed    []byte // finished batches, back to back
	records   int    // records in sealed
	batches   []int  // record count per sealed batch

	log    *logdir.Log // the leader's replica, opened lazily
	leader int
	epoch  int32

	// nextSeq is the sequence number of the partition's next record
	// (Idempotent only): a batch carries its first record's.
	nextSeq int32
	// indexes are the Send indexes of the records batched and sealed, in
	// order (OnRecord only).
	indexes []int64
}

// NewProducer opens topic for producing, creating it when it does not
// exist and auto-creation is on.
func NewProducer(c *coord.Cluster, topic string, opts ProducerOptions) (*Producer, error) {
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 16 << 10
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	t, err := LookupTopic(c, topic, opts.AutoCreate, opts.OnCreate)
	if err != nil {
		return nil, err
	}
	p := &Producer{c: c, topic: t, guard: newTopicGuard(t.Name, "producing to"), opts: opts, sticky: NewStickyPartitioner(rand.Uint64()), maxBatch: t.Int64Config("max.message.bytes")}
	p.guard.saw(t)
	p.sticky.StickyBytes = opts.BatchBytes
	if opts.Idempotent {
		if opts.Acks != AcksAll {
			return nil, fmt.Errorf("an idempotent producer needs acks=all")
		}
		if p.pid, err = InitProducerID(c, time.Now().Add(opts.Timeout)); err != nil {
			return nil, err
		}
	}
	for i := range t.Partitions {
		p.parts = append(p.parts, &partitionWriter{partition: int32(i), leader: coord.NoLeader})
	}
	return p, nil
}

// LookupTopic returns the topic, creating it with the cluster's defaults
// when it does not exist and autoCreate is on and the cluster allows it.
func LookupTopic(c *coord.Cluster, name string, autoCreate bool, onCreate func(*coord.Topic)) (*coord.Topic, error) {
	t, err := c.Topic(name)
	if err == nil || !errors.Is(err, coord.ErrUnknownTopic) || !autoCreate || !c.ClusterConfig().AutoCreateTopics {
		return t, err
	}
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	cc := c.ClusterConfig()
	t, err = c.CreateTopic(name, cc.NumPartitions, cc.DefaultReplicationFactor, nil)
	if errors.Is(err, coord.ErrTopicExists) {
		return c.Topic(name) // another process created it first
	}
	if err == nil && onCreate != nil {
		onCreate(t)
	}
	return t, err
}

// Topic is the topic as the producer last read it.
func (p *Producer) Topic() *coord.Topic { return p.topic }

// RecordTooLargeError: one record does not fit in a batch under the
// topic's max.message.bytes.
type RecordTooLargeError struct {
	Size, Max int64
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("record of %d bytes is larger than max.message.bytes %d", e.Size, e.Max)
}

// Send adds a record. partition < 0 lets the partitioner choose (murmur2
// of the key as Kafka's Java client does; sticky for records without a
// key). It appends when enough is batched; the error is then that of the
// append (records of failed appends are counted in Failed).
func (p *Producer) Send(partition int32, timestamp int64, key, value []byte, headers []logdir.Header) error {
	n := len(p.parts)
	sticky := false
	switch {
	case partition >= 0:
		if int(partition) >= n {
			return PartitionRangeError(p.topic.Name, int(partition), n)
		}
	case key != nil:
		partition = KeyPartition(key, n)
	default:
		partition = p.sticky.Partition(n, p.availablePartitions())
		sticky = true
	}
	w := p.parts[partition]
	size := logdir.RecordSize(0, int32(w.builder.Count()), key, value, headers)
	if int64(size+logdir.BatchHeaderSize) > p.maxBatch {
		return &RecordTooLargeError{int64(size + logdir.BatchHeaderSize), p.maxBatch}
	}
	if w.builder.Count() > 0 && (w.builder.Size()+size > p.opts.BatchBytes || int64(w.builder.Size()+size) > p.maxBatch) {
		p.seal(w)
		if sticky {
			p.sticky.OnBatchFull()
			partition = p.sticky.Partition(n, p.availablePartitions())
			w = p.parts[partition]
		}
	}
	before := w.builder.Size()
	w.builder.Add(timestamp, key, value, headers)
	if p.opts.OnRecord != nil {
		w.indexes = append(w.indexes, p.sent)
	}
	p.sent++
	p.pending += w.builder.Size() - before
	if p.pending >= maxPendingBytes {
		return p.Flush()
	}
	return nil
}

// availablePartitions lists the partitions that have a leader in the
// metadata the producer last read.
func (p *Producer) availablePartitions() []int32 {
	if p.available == nil || p.availableVersion != p.topic.Version {
		p.available = p.available[:0]
		for _, part := range p.topic.Partitions {
			if part.Leader != coord.NoLeader && part.Partition < len(p.parts) {
				p.available = append(p.available, int32(part.Partition))
			}
		}
		p.availableVersion = p.topic.Version
	}
	return p.available
}

func (p *Producer) seal(w *partitionWriter) {
	if w.builder.Count() == 0 {
		return
	}
	if p.opts.Idempotent {
		w.sealed = append(w.sealed, w.builder.FinishIdempotent(p.pid.ID, p.pid.Epoch, w.nextSeq)...)
		w.nextSeq = nextSequence(w.nextSeq, w.builder.Count())
	} else {
		w.sealed = append(w.sealed, w.builder.Finish()...)
	}
	w.batches = append(w.batches, w.builder.Count())
	w.records += w.builder.Count()
	w.builder.Reset()
}

// Flush appends everything batched and waits for the acknowledgements.
// It returns the first error; records of failed appends count in Failed.
func (p *Producer) Flush() error {
	var first error
	for _, w := range p.parts {
		p.seal(w)
		if len(w.sealed) == 0 {
			continue
		}
		var err error
		if p.opts.Idempotent {
			err = p.appendIdempotent(w)
		} else {
			err = p.appendSealed(w)
		}
		if err != nil {
			p.Failed += int64(w.records)
			p.ack(w, -1, w.records)
			if first == nil {
				first = err
			}
		} else {
			p.Acked += int64(w.records)
		}
		w.sealed, w.records, w.batches = w.sealed[:0], 0, w.batches[:0]
	}
	p.pending = 0
	return first
}

// Close flushes and releases the producer's files.
func (p *Producer) Close() error {
	err := p.Flush()
	for _, w := range p.parts {
		if w.log != nil {
			if p.opts.Idempotent {
				// The next producer process loads the producer state
				// from here instead of replaying what this one appended.
				w.log.CacheProducers()
			}
			w.log.Close()
			w.log = nil
		}
	}
	if p.stopWake != nil {
		p.stopWake()
	}
	return err
}

// appendSealed appends w's sealed batches to the partition leader,
// retrying through leader changes until the timeout.
func (p *Producer) appendSealed(w *partitionWriter) error {
	deadline := time.Now().Add(p.opts.Timeout)
	warned := false
	for {
		res, err := p.tryAppend(w)
		if err == nil {
			if p.opts.Acks == AcksAll && res.HighWatermark <= res.LastOffset {
				err = p.awaitCommit(w, res, deadline)
			}
			if err == nil {
				off := res.BaseOffset
				for _, n := range w.batches {
					p.ack(w, off, n)
					off += int64(n)
				}
				return nil
			}
		}
		if !retriable(err) || p.opts.Acks == AcksNone || time.Now().After(deadline) {
			return err
		}
		if !warned && p.opts.Warnf != nil && (errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotEnoughReplicas)) {
			// A leader moving is a matter of milliseconds; a dead one is
			// not: say why the records wait.
			p.opts.Warnf("%v; retrying for up to %s", err, p.opts.Timeout)
			warned = true
		}
		if w.log != nil {
			w.log.Close()
			w.log = nil
		}
		p.waitForChange(deadline)
	}
}

// tryAppend appends once to the leader named by the current metadata.
func (p *Producer) tryAppend(w *partitionWriter) (logdir.AppendResult, error) {
	if w.log == nil {
		if err := p.resolve(w); err != nil {
			return logdir.AppendResult{}, err
		}
	} else if _, err := p.guard.check(p.c); err != nil {
		// The replica kept open would take the batch into the files of a
		// deleted topic, and acknowledge it.
		return logdir.AppendResult{}, err
	}
	return w.log.Append(w.epoch, w.sealed)
}

// resolve reads the partition's leader from the metadata and opens its
// replica.
func (p *Producer) resolve(w *partitionWriter) error {
	t, err := p.c.Topic(p.topic.Name)
	if err != nil {
		return p.guard.lookupErr(err)
	}
	if err := p.guard.saw(t); err != nil {
		return err
	}
	p.topic = t
	if int(w.partition) >= len(t.Partitions) {
		return fmt.Errorf("%w: partition %d of topic %s", ErrPartitionRange, w.partition, t.Name)
	}
	part := t.Partitions[w.partition]
	if err := checkLeader(p.c, t, part); err != nil {
		return err
	}
	if p.opts.Acks == AcksAll {
		if min := t.Int64Config("min.insync.replicas"); int64(len(part.ISR)) < min {
			return fmt.Errorf("%w: partition %s-%d has %d in-sync replicas, min.insync.replicas is %d", ErrNotEnoughReplicas, t.Name, part.Partition, len(part.ISR), min)
		}
	}
	l, err := logdir.Open(p.c.PartitionDir(part.Leader, t.Name, part.Partition), logdir.Config{})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: partition %s-%d: broker %d has not created its replica yet", ErrLeaderNotReady, t.Name, part.Partition, part.Leader)
		}
		return err
	}
	l.SetConfig(t.LogConfig())
	w.log, w.leader, w.epoch = l, part.Leader, int32(part.LeaderEpoch)
	return nil
}

// checkLeader says whether the partition has a live leader.
func checkLeader(c *coord.Cluster, t *coord.Topic, part coord.Partition) error {
	if part.Leader == coord.NoLeader {
		down := "its replicas are down"
		if len(part.ISR) > 0 {
			down = fmt.Sprintf("broker %d is down", part.ISR[0])
		}
		if len(part.Damaged) > 0 {
			// Its brokers may be up: it waits for a replica that holds
			// what a damaged one lost.
			down = fmt.Sprintf("%s, and no replica that holds them is alive (see mk describe topic %s)", part.Damaged[0], t.Name)
		}
		return newError(ErrNoLeader, "partition %s-%d has no live leader: %s", t.Name, part.Partition, down)
	}
	if !c.BrokerAlive(part.Leader) {
		return newError(ErrNoLeader, "partition %s-%d has no live leader: broker %d is down", t.Name, part.Partition, part.Leader)
	}
	return nil
}

// awaitCommit waits until the high watermark passes the append (acks=all).
func (p *Producer) awaitCommit(w *partitionWriter, res logdir.AppendResult, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	rd, err := logdir.OpenReader(w.log.Dir())
	if err != nil {
		return err
	}
	defer rd.Close()
	wake := coord.Watch(ctx, []string{rd.StatePath(), p.c.TopicsMetaDir()}, 20*time.Millisecond)
	for {
		st, err := rd.State()
		if err != nil {
			if _, derr := p.guard.check(p.c); derr != nil {
				return derr // its replica went with it
			}
			return err
		}
		if st.HighWatermark > res.LastOffset {
			return nil
		}
		if _, err := p.guard.check(p.c); err != nil {
			return err // nobody replicates a deleted topic's partitions
		}
		if st.LeaderEpoch != w.epoch {
			return fmt.Errorf("%w: %w: leader of partition %s-%d changed before offsets %d..%d were replicated", ErrNotAcknowledged, errLeaderChanged, p.topic.Name, w.partition, res.BaseOffset, res.LastOffset)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: offsets %d..%d of partition %s-%d not replicated to the in-sync replicas within %s", ErrNotAcknowledged, res.BaseOffset, res.LastOffset, p.topic.Name, w.partition, p.opts.Timeout)
		case <-wake:
		}
	}
}

// waitForChange waits for a metadata change (a new leader, a broker
// starting) or a short while, whichever comes first.
func (p *Producer) waitForChange(deadline time.Time) {
	if p.wake == nil {
		ctx, cancel := context.WithCancel(context.Background())
		p.stopWake = cancel
		p.wake = coord.Watch(ctx, []string{p.c.TopicsMetaDir(), p.c.BrokersMetaDir()}, 50*time.Millisecond)
	}
	t := time.NewTimer(max(time.Until(deadline), time.Millisecond))
	defer t.Stop()
	select {
	case <-p.wake:
	case <-t.C:
	}
}

func retriable(err error) bool {
	return errors.Is(err, logdir.ErrFenced) || errors.Is(err, logdir.ErrNotLeader) ||
		errors.Is(err, ErrNoLeader) || errors.Is(err, ErrLeaderNotReady) ||
		errors.Is(err, ErrNotEnoughReplicas) || errors.Is(err, logdir.ErrLockTimeout)
}

// errLeaderChanged: the leader changed before an append was replicated. A
// batch appended again might be stored twice, unless the producer is
// idempotent: then the new leader answers a batch it holds (copied from
// the old one) with its offsets.
var errLeaderChanged = errors.New("leader changed")

// appendIdempotent appends w's sealed batches for an idempotent producer,
// retrying every retriable failure, a leader change before replication
// included, until the timeout. Each batch carries the producer id and its
// sequence numbers, so a batch the leader holds already is answered with
// the offsets it was stored at and not stored again (the broker's producer
// state, logdir/producerstate.go). Batches go together while none comes
// back a duplicate; after that, one by one, since the log answers an
// append holding a duplicate with that batch's offsets alone.
func (p *Producer) appendIdempotent(w *partitionWriter) error {
	deadline := time.Now().Add(p.opts.Timeout)
	bases := make([]int64, len(w.batches)) // each batch's first offset
	oneByOne, warned := false, false
	for {
		res, err := p.appendBatches(w, bases, &oneByOne)
		if err == nil && res.HighWatermark <= res.LastOffset {
			err = p.awaitCommit(w, res, deadline)
		}
		if err == nil {
			for i, n := range w.batches {
				p.ack(w, bases[i], n)
			}
			return nil
		}
		if !retriable(err) && !errors.Is(err, errLeaderChanged) || time.Now().After(deadline) {
			return err
		}
		if !warned && p.opts.Warnf != nil && (errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotEnoughReplicas)) {
			p.opts.Warnf("%v; retrying for up to %s", err, p.opts.Timeout)
			warned = true
		}
		// From now on a batch may be in the log already (appended, not
		// yet known replicated): send them one by one.
		oneByOne = true
		if w.log != nil {
			w.log.Close()
			w.log = nil
		}
		p.waitForChange(deadline)
	}
}

// appendBatches appends w's sealed batches to the current leader, all at
// once or one by one, and records each one's first offset in bases. The
// result spans the batches (BaseOffset of the first, LastOffset of the
// last).
func (p *Producer) appendBatches(w *partitionWriter, bases []int64, oneByOne *bool) (logdir.AppendResult, error) {
	if w.log == nil {
		if err := p.resolve(w); err != nil {
			return logdir.AppendResult{}, err
		}
	} else if _, err := p.guard.check(p.c); err != nil {
		return logdir.AppendResult{}, err
	}
	if !*oneByOne || len(w.batches) == 1 {
		res, err := w.log.Append(w.epoch, w.sealed)
		if err != nil {
			return res, err
		}
		if !res.Duplicate || len(w.batches) == 1 {
			off := res.BaseOffset
			for i, n := range w.batches {
				bases[i] = off
				off += int64(n)
			}
			return res, nil
		}
		*oneByOne = true
	}
	var all logdir.AppendResult
	rest := w.sealed
	for i := range w.batches {
		b, r, err := logdir.NextBatch(rest)
		if err != nil {
			return all, err
		}
		rest = r
		res, err := w.log.Append(w.epoch, b)
		if err != nil {
			return res, err
		}
		if i == 0 {
			all.BaseOffset = res.BaseOffset
		}
		bases[i] = res.BaseOffset
		all.LastOffset = max(all.LastOffset, res.LastOffset)
		all.HighWatermark, all.LogEndOffset = res.HighWatermark, res.LogEndOffset
	}
	return all, nil
}

// nextSequence is seq moved on by n records; sequences wrap to 0 after the
// largest int32, as Kafka's do.
func nextSequence(seq int32, n int) int32 {
	return int32((int64(seq) + int64(n)) % (1 << 31))
}

// ack reports n records of w from offset base on (-1: failed) to OnAck
// and OnRecord, in order.
func (p *Producer) ack(w *partitionWriter, base int64, n int) {
	if p.opts.OnAck != nil && base >= 0 {
		p.opts.OnAck(w.partition, base, n)
	}
	if p.opts.OnRecord == nil {
		return
	}
	for i := 0; i < n && len(w.indexes) > 0; i++ {
		off := int64(-1)
		if base >= 0 {
			off = base + int64(i)
		}
		p.opts.OnRecord(w.indexes[0], w.partition, off)
		w.indexes = w.indexes[1:]
	}
	if len(w.indexes) == 0 {
		w.indexes = w.indexes[:0:0] // let the consumed array go
	}
}
