// Package client is mk's producer and consumer: the logic a Kafka client
// library holds (partitioning, batching, retries on leader changes, acks,
// fetching below the high watermark, following) as plain Go, for the
// commands and the benchmarks. The producer hands its batches to the
// leader brokers over the Kafka protocol, on their Unix sockets: brokers
// are the only writers of their replicas (design decision 4). Consumers
// read the leaders' segment files directly, without locks, below the high
// watermark.
package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/logdir"
)

// Acks values, as Kafka's producer "acks" config.
const (
	AcksNone   = 0  // do not wait: the broker sends no answer, errors are not retried
	AcksLeader = 1  // done when the leader's log holds the record
	AcksAll    = -1 // done when the high watermark has passed the record (every ISR member has it)
)

// ProducerOptions configure a Producer.
type ProducerOptions struct {
	Acks int
	// BatchBytes is Kafka's batch.size: records per partition are encoded
	// into batches of about this many bytes (default 16 KiB).
	BatchBytes int
	// Timeout bounds how long a record may wait for a leader and its
	// acknowledgement from the moment its batch is sealed (Kafka's
	// delivery.timeout.ms; default 30 s).
	Timeout time.Duration
	// AutoCreate creates an unknown topic with the cluster's defaults (when
	// the cluster allows it).
	AutoCreate bool
	// OnCreate is told when the topic was created by this producer.
	OnCreate func(t *coord.Topic)
	// OnAck is called for every acknowledged batch, in order per
	// partition. With acks=0 the broker says nothing and the offsets are
	// unknown: baseOffset is -1.
	OnAck func(partition int32, baseOffset int64, count int)
	// Warnf, if set, is told once when a partition's records start
	// waiting for a leader or for enough in-sync replicas, which may last
	// the whole Timeout.
	Warnf func(format string, args ...any)
	// Idempotent makes the producer idempotent, as Kafka's is by default
	// (enable.idempotence): it gets a producer id from a broker
	// (InitProducerId) and numbers its batches per partition, so a batch
	// whose fate is unknown (its broker went away before answering, it was
	// appended and not replicated in time) is sent again until the
	// Timeout: the broker answers a batch it holds with its offsets and
	// does not store it twice. It needs Acks AcksAll.
	Idempotent bool
	// OnRecord is called once for every record sent, when it is
	// acknowledged (offset its offset; -1 with acks=0) or failed (offset
	// -1, failed true); index counts the Send calls from 0. In order per
	// partition, not across them.
	OnRecord func(index int64, partition int32, offset int64, failed bool)
}

// minPendingBytes is the least a producer may hold that is not yet
// acknowledged (being batched, waiting for a leader, in flight): the bound
// keeps memory bounded whatever the input size (Kafka's buffer.memory,
// whose default is 32 MiB). Each producer's bound is this or room for
// maxInFlight full batches in flight plus two being filled and queued,
// whichever is larger (pendingBound).
const minPendingBytes = 4 << 20

// pendingBound is the bytes a producer with batches of batchBytes may
// hold not yet acknowledged. At acks=all a batch waits for the followers'
// copies, several milliseconds on a busy machine, and the producer's rate
// is at most what it holds in flight per round trip: with 1 MiB (the
// bound before, counting the batch being filled) a producer of 256 KiB
// batches had 3 or 4 in flight, not the 5 a connection takes, and
// acks=all ran at half the rate of acks=1. The
// bound must let every connection fill its maxInFlight requests while the
// next batch fills, and let the producer read ahead while answers lag.
func pendingBound(batchBytes int) int {
	return max(minPendingBytes, (maxInFlight+2)*batchBytes)
}

// Retry backoff after a retriable answer (NOT_LEADER_OR_FOLLOWER from a
// broker that has not applied its new role yet, say): short at first,
// because a failover is a matter of milliseconds, and doubling up to a
// bound well under Kafka's retry.backoff.ms (100 ms): the brokers are
// local, a retry costs little. A metadata change (a new leader
// published, a broker dead) retries at once.
const (
	minRetryBackoff = time.Millisecond
	maxRetryBackoff = 16 * time.Millisecond
)

// answerGrace is how long past a request's deadline the producer waits for
// the broker's answer before it gives the connection up: the broker
// answers an acks=all request at its timeout, which is the deadline, and
// on its own socket that answer takes milliseconds. A tenth of the
// Timeout, at most a second: a broker that does not answer (stopped)
// holds the producer little past its Timeout.
func (p *Producer) answerGrace() time.Duration {
	return min(time.Second, p.opts.Timeout/10)
}

// Producer sends records to one topic. Its methods are for one goroutine;
// the connections' readers hand it their answers through Wake and Poll.
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

	maxBatch   int64 // the topic's max.message.bytes
	pending    int   // bytes added and not yet acknowledged or failed
	maxPending int   // the bound on pending (pendingBound)
	conns      map[int]*brokerConn
	free       [][]byte // batch buffers to reuse
	// pid is the idempotent producer's id and epoch (Idempotent only).
	pid  ProducerID
	sent int64 // Send calls so far: the next record's index

	mu      sync.Mutex
	arrived []connResult  // answers read, not yet handled
	wake    chan struct{} // something to handle: an answer, a retry due, a metadata change
	timer   *time.Timer
	watch   context.CancelFunc
	// metaChanged: the topics or brokers changed since the last Poll, so
	// partitions without a leader look again at once.
	metaChanged atomic.Bool

	err     error // the first failure, returned by Send, Flush and Close
	deleted error // the topic was deleted: everything fails with this

	Acked  int64 // records acknowledged
	Failed int64 // records that could not be acknowledged
}

type partitionWriter struct {
	partition int32
	builder   logdir.BatchBuilder
	queue     []*batch    // sealed, not yet sent, oldest first
	retry     []*batch    // came back retriable while others were in flight
	inflight  int         // batches in requests not yet answered
	conn      *brokerConn // the connection they were sent on
	// probing: the partition has just (re)found its leader; one batch at
	// a time until one is acknowledged, so that a broker that has not
	// taken up its role yet refuses one batch, not one and appends the
	// next ahead of it.
	probing   bool
	warned    bool // Warnf was told why this partition's records wait
	leader    int  // the broker the batches go to; coord.NoLeader while resolving
	resolveAt time.Time
	backoff   time.Duration
	why       error // why the partition has no leader to send to
	seq       int64 // sequence of the next batch sealed
	// nextSeq is the Kafka sequence number of the partition's next record
	// (Idempotent only): a batch carries its first record's.
	nextSeq int32
	// indexes are the Send indexes of the records in the builder (OnRecord
	// only).
	indexes []int64
	// lastLeader and lastEpoch are the leader and epoch last resolved.
	lastLeader, lastEpoch int

	// last is the last reason its batches were refused or could not be
	// sent, kept when the leader is found again: a batch that runs out of
	// time says it (a broker's NOT_LEADER_OR_FOLLOWER, say) rather than
	// only that time ran out. An acknowledgement clears it.
	last error
	// expired is why a batch of the partition ran out of its Timeout (not
	// sent, or its leader did not answer): the batches behind it fail at
	// once with the same reason rather than each waiting out a Timeout of
	// its own, since they wait for the same leader (and an idempotent
	// producer's could not be stored after the gap the failed one leaves).
	// So a producer whose leader stopped ends near its Timeout, however
	// much input it had read. An acknowledgement, a new leader or leader
	// epoch (the batches behind go to it afresh), or the end of a Flush
	// clears it.
	expired error
}

type batch struct {
	w        *partitionWriter
	data     []byte
	records  int
	seq      int64
	deadline time.Time
	indexes  []int64 // the records' Send indexes (OnRecord only)
}

// NewProducer opens topic for producing, creating it when it does not
// exist and auto-creation is on.
func NewProducer(c *coord.Cluster, topic string, opts ProducerOptions) (*Producer, error) {
	return NewProducerContext(context.Background(), c, topic, opts)
}

// NewProducerContext is NewProducer ended early by ctx: an idempotent
// producer asks for its producer id until ctx ends or opts.Timeout passes.
func NewProducerContext(ctx context.Context, c *coord.Cluster, topic string, opts ProducerOptions) (*Producer, error) {
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
	p := &Producer{c: c, topic: t, guard: newTopicGuard(t.Name, "producing to"), opts: opts, sticky: NewStickyPartitioner(rand.Uint64()),
		maxBatch: t.Int64Config(coord.ConfigMaxMessageBytes), conns: map[int]*brokerConn{}, wake: make(chan struct{}, 1)}
	p.guard.saw(t)
	p.sticky.StickyBytes = opts.BatchBytes
	p.maxPending = pendingBound(opts.BatchBytes)
	if opts.Idempotent {
		if opts.Acks != AcksAll {
			return nil, fmt.Errorf("an idempotent producer needs acks=all")
		}
		if p.pid, err = InitProducerID(ctx, c, time.Now().Add(opts.Timeout)); err != nil {
			return nil, err
		}
	}
	for i := range t.Partitions {
		p.parts = append(p.parts, &partitionWriter{partition: int32(i), leader: coord.NoLeader, probing: true})
	}
	// Watched from the start: a leader's death and its successor are
	// seen the moment they are published, never after a watch set up
	// too late.
	p.watchMetadata()
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
	// Through a live broker: a producer never holds meta/lock (admin.go).
	t, err = CreateTopic(c, name, cc.NumPartitions, cc.DefaultReplicationFactor, nil, time.Time{})
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
// key). Full batches are sent at once, several in flight; Send waits only
// while the producer holds maxPending bytes not yet acknowledged. It fails,
// without taking the record, when the record cannot be sent or a batch
// failed since the last Flush (that failure; records of failed batches are
// counted in Failed).
func (p *Producer) Send(partition int32, timestamp int64, key, value []byte, headers []logdir.Header) error {
	if p.err != nil {
		return p.err
	}
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
		p.Poll()
		if sticky {
			p.sticky.OnBatchFull()
			partition = p.sticky.Partition(n, p.availablePartitions())
			w = p.parts[partition]
		}
	}
	before := w.builder.Size()
	w.builder.Add(timestamp, key, value, headers)
	p.pending += w.builder.Size() - before
	if sticky {
		// Kafka moves on after batch.size bytes to a partition, full
		// batches or not (KIP-794): input that trickles in is sent in
		// small batches that never fill, and stayed on one partition.
		p.sticky.Appended(w.builder.Size() - before)
	}
	if p.opts.OnRecord != nil {
		w.indexes = append(w.indexes, p.sent)
	}
	p.sent++
	if p.pending >= p.maxPending {
		p.sealAll()
		p.waitUntil(func() bool { return p.pending < p.maxPending })
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

// seal finishes w's batch in the making and queues it.
func (p *Producer) seal(w *partitionWriter) {
	if w.builder.Count() == 0 {
		return
	}
	records := w.builder.Count()
	var next []byte
	if n := len(p.free); n > 0 {
		next, p.free = p.free[n-1], p.free[:n-1]
	}
	var data []byte
	if p.opts.Idempotent {
		data = w.builder.TakeIdempotent(next, p.pid.ID, p.pid.Epoch, w.nextSeq)
		w.nextSeq = nextSequence(w.nextSeq, records)
	} else {
		data = w.builder.Take(next)
	}
	b := &batch{w: w, data: data, records: records, seq: w.seq, deadline: time.Now().Add(p.opts.Timeout), indexes: w.indexes}
	w.indexes = nil
	w.seq++
	w.queue = append(w.queue, b)
	// Send counted the records' bytes; the batch is those and its header.
	p.pending += logdir.BatchHeaderSize
}

func (p *Producer) sealAll() {
	for _, w := range p.parts {
		p.seal(w)
	}
}

// SendNow sends what is batched without waiting for more records or for
// the answers: the input went idle (a producer typing, a slow pipe).
func (p *Producer) SendNow() {
	p.sealAll()
	p.Poll()
}

// Wake has a value when the producer has something to handle (an answer
// arrived, a retry is due); call Poll then. A caller that waits for input
// selects on it, so that acknowledgements and retries go on meanwhile.
func (p *Producer) Wake() <-chan struct{} { return p.wake }

// Err is the first failure of a batch since the last Flush, nil while all
// is well.
func (p *Producer) Err() error { return p.err }

// Flush sends everything batched and waits for the acknowledgements. It
// returns the first failure since the last Flush; records of failed
// batches count in Failed.
func (p *Producer) Flush() error {
	p.sealAll()
	p.waitUntil(func() bool { return p.pending == 0 })
	for _, w := range p.parts {
		w.expired = nil // what comes after the Flush is tried afresh
	}
	err := p.err
	p.err = p.deleted // a deleted topic fails whatever comes after
	return err
}

// Close flushes and closes the producer's connections.
func (p *Producer) Close() error {
	err := p.Flush()
	for _, bc := range p.conns {
		bc.close()
	}
	p.conns = map[int]*brokerConn{}
	if p.watch != nil {
		p.watch()
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	return err
}

// waitUntil polls until done holds.
func (p *Producer) waitUntil(done func() bool) {
	for {
		p.Poll()
		if done() {
			return
		}
		<-p.wake
	}
}

// signal makes Wake ready.
func (p *Producer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Producer) deliver(r connResult) {
	p.mu.Lock()
	p.arrived = append(p.arrived, r)
	p.mu.Unlock()
	p.signal()
}

// Poll does what is due without blocking: handles the answers that
// arrived, fails batches past their deadline, finds leaders for partitions
// that lost theirs, and sends queued batches to their leaders.
func (p *Producer) Poll() {
	p.mu.Lock()
	arrived := p.arrived
	p.arrived = nil
	p.mu.Unlock()
	for _, r := range arrived {
		p.handle(r)
	}
	now := time.Now()
	if p.metaChanged.Swap(false) {
		for _, w := range p.parts {
			w.resolveAt = time.Time{}
		}
	}
	var t *coord.Topic // read at most once per poll
	next := time.Time{}
	for _, w := range p.parts {
		if len(w.queue) == 0 && len(w.retry) == 0 {
			continue
		}
		if p.deleted != nil {
			p.failQueued(w, p.deleted)
			continue
		}
		if w.leader == coord.NoLeader && w.inflight == 0 && !now.Before(w.resolveAt) {
			if t == nil {
				t = p.readTopic()
			}
			if p.deleted != nil {
				p.failQueued(w, p.deleted)
				continue
			}
			p.resolve(w, t, now)
		}
		// Queued batches whose time is up fail with why they could not
		// be sent.
		for len(w.queue) > 0 && (w.expired != nil || !now.Before(w.queue[0].deadline)) {
			why := w.expired
			if why == nil {
				// A reason the metadata gives (no live leader) stands;
				// one a broker gave (lostLeader) is said as the last of
				// the tries, whether or not the leader was found again
				// since.
				why = w.why
				if why == nil || why == w.last {
					why = p.notSent(w)
				}
				w.expired = why
			}
			p.fail(w.queue[0], why)
			w.queue = w.queue[1:]
		}
		if len(w.queue) > 0 {
			next = earliest(next, w.queue[0].deadline)
			if w.leader == coord.NoLeader && w.inflight == 0 {
				next = earliest(next, w.resolveAt)
			}
		}
	}
	p.sendQueued(now)
	// Requests past their deadline: the broker did not answer (stopped,
	// say). Give the connection up; its requests come back as failed.
	for _, bc := range p.conns {
		if len(bc.deadlines) > 0 && !bc.broken {
			due := bc.deadlines[0].Add(p.answerGrace())
			if now.After(due) {
				bc.closeReason = newError(ErrNotAcknowledged, "broker %d did not answer within %s: its records may or may not be stored", bc.broker, p.opts.Timeout)
				bc.close()
			} else {
				next = earliest(next, due)
			}
		}
	}
	p.schedule(next)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// schedule makes Wake ready at t (zero: not at all).
func (p *Producer) schedule(t time.Time) {
	if t.IsZero() {
		return
	}
	d := max(time.Until(t), 0)
	if p.timer == nil {
		p.timer = time.AfterFunc(d, p.signal)
	} else {
		p.timer.Reset(d)
	}
}

// readTopic re-reads the topic; a topic gone, or another topic of the same
// name, fails everything with the deleted error.
func (p *Producer) readTopic() *coord.Topic {
	t, err := p.c.Topic(p.topic.Name)
	if err == nil {
		err = p.guard.saw(t)
	} else {
		err = p.guard.lookupErr(err)
	}
	switch {
	case errors.Is(err, ErrTopicDeleted):
		p.deleted = err
		p.setErr(p.deleted)
		return nil
	case err != nil:
		return nil // unreadable for now (damaged, caught between writes): try again later
	}
	p.topic = t
	return t
}

// resolve finds w's leader in t (nil: unreadable now), or schedules the
// next try and says why there is none.
func (p *Producer) resolve(w *partitionWriter, t *coord.Topic, now time.Time) {
	err := p.leaderOf(w, t)
	if err == nil {
		w.why, w.warned = nil, false
		return
	}
	if !w.warned && p.opts.Warnf != nil && (errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotEnoughReplicas)) {
		// A leader moving is a matter of milliseconds; a dead one is
		// not: say why the records wait (once per wait).
		p.opts.Warnf("%v; retrying for up to %s", err, p.opts.Timeout)
		w.warned = true
	}
	w.why = err
	w.backoff = min(max(2*w.backoff, minRetryBackoff), maxRetryBackoff)
	w.resolveAt = now.Add(w.backoff)
	p.watchMetadata()
}

func (p *Producer) leaderOf(w *partitionWriter, t *coord.Topic) error {
	if t == nil {
		return fmt.Errorf("%w: partition %s-%d: the topic's metadata cannot be read", ErrNoLeader, p.topic.Name, w.partition)
	}
	if int(w.partition) >= len(t.Partitions) {
		return fmt.Errorf("%w: partition %d of topic %s", ErrPartitionRange, w.partition, t.Name)
	}
	part := t.Partitions[w.partition]
	if err := checkLeader(p.c, t, part); err != nil {
		return err
	}
	if p.opts.Acks == AcksAll {
		if need := min(t.Int64Config(coord.ConfigMinInsyncReplicas), int64(len(part.Replicas))); int64(len(part.ISR)) < need {
			return fmt.Errorf("%w: partition %s-%d has %d in-sync replicas, min.insync.replicas is %d", ErrNotEnoughReplicas, t.Name, part.Partition, len(part.ISR), need)
		}
	}
	if part.Leader != w.lastLeader || part.LeaderEpoch != w.lastEpoch {
		// A leader just published: the broker may not have taken up its
		// role yet (NOT_LEADER_OR_FOLLOWER for a few milliseconds), so
		// the retries start short again rather than at the backoff the
		// wait for the election grew.
		w.lastLeader, w.lastEpoch, w.backoff = part.Leader, part.LeaderEpoch, 0
		w.expired = nil
	}
	w.leader = part.Leader
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

// watchMetadata makes a change of the topics or the brokers wake the
// producer: partitions without a leader look for one at once.
func (p *Producer) watchMetadata() {
	if p.watch != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.watch = cancel
	ch := coord.Watch(ctx, []string{p.c.TopicsMetaDir(), p.c.BrokersMetaDir()}, time.Second)
	go func() {
		for range ch {
			p.metaChanged.Store(true)
			p.signal()
		}
	}()
}

// sendQueued sends the queued batches of the partitions that have a
// leader: one request per broker carries the oldest queued batch of each
// partition it leads, up to maxInFlight requests unanswered a connection.
func (p *Producer) sendQueued(now time.Time) {
	for {
		byBroker := map[int][]*batch{}
		for _, w := range p.parts {
			if len(w.queue) == 0 || w.leader == coord.NoLeader || len(w.retry) > 0 {
				continue
			}
			if w.inflight > 0 && (w.conn.broken || w.probing) {
				continue // its batches come back first, to keep their order
			}
			if bc := p.conns[w.leader]; bc != nil && !bc.broken && bc.inflight >= maxInFlight {
				continue
			}
			byBroker[w.leader] = append(byBroker[w.leader], w.queue[0])
		}
		if len(byBroker) == 0 {
			return
		}
		for broker, bs := range byBroker {
			bc, err := p.conn(broker)
			if err != nil {
				for _, b := range bs {
					p.lostLeader(b.w, p.partitionErr(b.w, ErrNoLeader, err), now)
				}
				continue
			}
			req := &produceRequest{batches: bs}
			for _, b := range bs {
				b.w.queue = b.w.queue[1:]
				b.w.inflight++
				b.w.conn = bc
				req.deadline = earliest(req.deadline, b.deadline)
			}
			if err := bc.send(req, p.topic.Name, int16(p.opts.Acks)); err != nil {
				bc.close()
				for _, b := range bs {
					b.w.inflight--
					b.w.queue = append([]*batch{b}, b.w.queue...)
					p.lostLeader(b.w, p.partitionErr(b.w, ErrNoLeader, fmt.Errorf("leader broker %d takes no requests: %w", broker, err)), now)
				}
				continue
			}
			if p.opts.Acks == AcksNone {
				for _, b := range bs {
					b.w.inflight--
					p.acked(b, -1)
				}
			}
		}
	}
}

// conn returns the connection to broker, dialling it when there is none
// or the last one broke.
func (p *Producer) conn(broker int) (*brokerConn, error) {
	if bc := p.conns[broker]; bc != nil && !bc.broken {
		return bc, nil
	}
	bc, err := dialBroker(broker, p.c.SocketPath(broker), p.opts.Acks == AcksNone, p.deliver)
	if err != nil {
		return nil, newError(ErrNoLeader, "leader broker %d cannot be reached: %v", broker, err)
	}
	p.conns[broker] = bc
	return bc, nil
}

// lostLeader makes w look for its leader again; why names the partition.
func (p *Producer) lostLeader(w *partitionWriter, why error, now time.Time) {
	w.leader = coord.NoLeader
	w.probing = true
	w.why, w.last = why, why
	w.resolveAt = now.Add(w.backoff)
	w.backoff = min(max(2*w.backoff, minRetryBackoff), maxRetryBackoff)
	p.watchMetadata()
}

// handle takes one answer (or connection break) from a broker.
func (p *Producer) handle(r connResult) {
	bc := r.conn
	if r.req != nil {
		bc.inflight--
		bc.deadlines = bc.deadlines[1:]
	}
	if r.err != nil {
		bc.close()
		if r.req == nil {
			return
		}
		// Whether the broker appended them is unknown. A Kafka producer
		// without idempotence sends them again and may store them twice;
		// mk's producer never stores a record twice: they fail as not
		// acknowledged (they may be in the log anyway). The partition
		// looks for its leader again.
		for _, b := range r.req.batches {
			b.w.inflight--
			if b.w.leader == bc.broker {
				p.lostLeader(b.w, p.partitionErr(b.w, ErrNoLeader, r.err), time.Now())
			}
			if p.opts.Idempotent && bc.closeReason == nil {
				// Numbered: sent again, it is stored once.
				p.retryLater(b, newError(ErrNotAcknowledged, "partition %s-%d: broker %d did not answer (%v)", p.topic.Name, b.w.partition, bc.broker, connCause(r.err)))
				continue
			}
			err := newError(ErrNotAcknowledged, "partition %s-%d: broker %d did not answer (%v): its records may or may not be stored", p.topic.Name, b.w.partition, bc.broker, connCause(r.err))
			if bc.closeReason != nil {
				err = p.partitionErr(b.w, ErrNotAcknowledged, bc.closeReason)
				b.w.expired = err // no answer within the Timeout
			}
			p.fail(b, err)
		}
		return
	}
	answers := map[int32]*kmsg.ProduceResponseTopicPartition{}
	for ti := range r.resp.Topics {
		for pi := range r.resp.Topics[ti].Partitions {
			a := &r.resp.Topics[ti].Partitions[pi]
			answers[a.Partition] = a
		}
	}
	for _, b := range r.req.batches {
		b.w.inflight--
		a := answers[b.w.partition]
		if a == nil {
			p.fail(b, fmt.Errorf("broker %d did not answer for partition %s-%d", bc.broker, p.topic.Name, b.w.partition))
			continue
		}
		if a.ErrorCode == 0 {
			if earlier := b.w.unsentBefore(b.seq); earlier && p.opts.Idempotent {
				// Sent again after the earlier one, it is answered as
				// the duplicate it is, with these offsets, in order.
				p.retryLater(b, newError(ErrNotAcknowledged, "partition %s-%d: a batch before this one is sent again", p.topic.Name, b.w.partition))
				continue
			} else if earlier {
				// An earlier batch of the partition was refused and waits
				// to be sent again; this one is stored ahead of it. Were it
				// acknowledged, acknowledgements would not follow the
				// order of the records.
				p.fail(b, newError(ErrNotAcknowledged, "partition %s-%d: batch stored at offset %d ahead of an earlier batch the broker refused; not acknowledged, to keep the order", p.topic.Name, b.w.partition, a.BaseOffset))
				continue
			}
			b.w.backoff = 0
			b.w.probing = false
			b.w.last = nil
			p.acked(b, a.BaseOffset)
			continue
		}
		err := p.answerError(bc.broker, b.w.partition, a)
		switch {
		case p.opts.Idempotent && (a.BaseOffset >= 0 || a.ErrorCode == kerr.RequestTimedOut.Code || a.ErrorCode == kerr.NotEnoughReplicasAfterAppend.Code):
			// Appended, not acknowledged: numbered, it is sent again
			// until acknowledged or out of time, and stored once.
			p.retryLater(b, err)
		case p.opts.Idempotent && a.ErrorCode == kerr.OutOfOrderSequenceNumber.Code && b.w.unsentBefore(b.seq):
			// A batch before it failed and is sent again first: its
			// gap closes then.
			p.retryLater(b, err)
		case a.BaseOffset >= 0 || a.ErrorCode == kerr.RequestTimedOut.Code || a.ErrorCode == kerr.NotEnoughReplicasAfterAppend.Code:
			// Appended, not acknowledged: sending it again could store
			// it twice; it fails as not acknowledged.
			if a.ErrorCode == kerr.UnknownTopicOrPartition.Code || a.ErrorCode == kerr.NotLeaderForPartition.Code {
				p.readTopic() // deleted, perhaps
			}
			if p.deleted != nil {
				p.fail(b, p.deleted)
				continue
			}
			p.fail(b, newError(ErrNotAcknowledged, "%v", err))
		case retriableCode(a.ErrorCode):
			p.retryLater(b, err)
		default:
			p.fail(b, err)
		}
	}
	// Batches that came back retriable go first again, in their order,
	// once none of their partition's is in flight.
	for _, w := range p.parts {
		if len(w.retry) > 0 && w.inflight == 0 {
			slices.SortFunc(w.retry, func(a, b *batch) int { return int(a.seq - b.seq) })
			w.queue = append(w.retry, w.queue...)
			w.retry = nil
		}
	}
}

// partitionErr is err, a reason that names only a broker, naming w's
// partition too, as sentinel.
func (p *Producer) partitionErr(w *partitionWriter, sentinel, err error) error {
	return newError(sentinel, "partition %s-%d: %v", p.topic.Name, w.partition, err)
}

// notSent is why a batch of w failed at its deadline: time ran out, and
// the last reason its batches were refused or not sent, if any (the
// reasons name the partition: said once).
func (p *Producer) notSent(w *partitionWriter) error {
	prefix := fmt.Sprintf("partition %s-%d: ", p.topic.Name, w.partition)
	if w.last == nil && w.inflight > 0 && w.conn != nil {
		// Held behind the partition's batches in flight (kept in order),
		// which their broker has not answered.
		return newError(ErrNotAcknowledged, "%snot sent within %s: broker %d has not answered the partition's earlier request", prefix, p.opts.Timeout, w.conn.broker)
	}
	if w.last == nil {
		return newError(ErrNotAcknowledged, "%snot sent within %s", prefix, p.opts.Timeout)
	}
	last, _ := strings.CutPrefix(w.last.Error(), prefix)
	return newError(ErrNotAcknowledged, "%snot acknowledged within %s; last: %s", prefix, p.opts.Timeout, last)
}

// unsentBefore reports whether a batch sealed before seq waits to be sent
// (again).
func (w *partitionWriter) unsentBefore(seq int64) bool {
	if len(w.queue) > 0 && w.queue[0].seq < seq {
		return true
	}
	for _, b := range w.retry {
		if b.seq < seq {
			return true
		}
	}
	return false
}

// retryLater holds b to be sent again once its partition has a leader.
func (p *Producer) retryLater(b *batch, why error) {
	b.w.retry = append(b.w.retry, b)
	if b.w.leader != coord.NoLeader {
		p.lostLeader(b.w, why, time.Now())
	}
	if b.w.inflight == 0 {
		slices.SortFunc(b.w.retry, func(x, y *batch) int { return int(x.seq - y.seq) })
		b.w.queue = append(b.w.retry, b.w.queue...)
		b.w.retry = nil
	}
}

// retriableCode: the broker appended nothing and another try may succeed.
func retriableCode(code int16) bool {
	switch code {
	case kerr.NotLeaderForPartition.Code, kerr.LeaderNotAvailable.Code, kerr.ReplicaNotAvailable.Code,
		kerr.NotEnoughReplicas.Code, kerr.UnknownTopicOrPartition.Code, kerr.KafkaStorageError.Code,
		kerr.BrokerNotAvailable.Code:
		return true
	}
	return false
}

// answerError describes a partition's error answer.
func (p *Producer) answerError(broker int, partition int32, a *kmsg.ProduceResponseTopicPartition) error {
	ke := kerr.ErrorForCode(a.ErrorCode)
	msg := ""
	if a.ErrorMessage != nil && *a.ErrorMessage != "" {
		msg = ": " + *a.ErrorMessage
	}
	var sentinel error
	switch a.ErrorCode {
	case kerr.NotEnoughReplicas.Code:
		sentinel = ErrNotEnoughReplicas
	case kerr.NotLeaderForPartition.Code, kerr.LeaderNotAvailable.Code, kerr.ReplicaNotAvailable.Code:
		sentinel = ErrLeaderNotReady
	case kerr.MessageTooLarge.Code, kerr.CorruptMessage.Code, kerr.InvalidRecord.Code, kerr.InvalidTimestamp.Code:
		sentinel = ke
	}
	text := fmt.Sprintf("partition %s-%d: broker %d answered %s%s", p.topic.Name, partition, broker, ke.(*kerr.Error).Message, msg)
	if sentinel != nil {
		return newError(sentinel, "%s", text)
	}
	return errors.New(text)
}

func (p *Producer) acked(b *batch, baseOffset int64) {
	b.w.expired = nil
	p.Acked += int64(b.records)
	p.pending -= len(b.data)
	if p.opts.OnAck != nil {
		p.opts.OnAck(b.w.partition, baseOffset, b.records)
	}
	if p.opts.OnRecord != nil {
		for i, idx := range b.indexes {
			off := int64(-1)
			if baseOffset >= 0 {
				off = baseOffset + int64(i)
			}
			p.opts.OnRecord(idx, b.w.partition, off, false)
		}
	}
	p.recycle(b)
}

func (p *Producer) fail(b *batch, err error) {
	p.Failed += int64(b.records)
	p.pending -= len(b.data)
	p.setErr(err)
	if p.opts.OnRecord != nil {
		for _, idx := range b.indexes {
			p.opts.OnRecord(idx, b.w.partition, -1, true)
		}
	}
	p.recycle(b)
}

func (p *Producer) failQueued(w *partitionWriter, err error) {
	for _, b := range w.queue {
		p.fail(b, err)
	}
	for _, b := range w.retry {
		p.fail(b, err)
	}
	w.queue, w.retry = nil, nil
}

func (p *Producer) setErr(err error) {
	if p.err == nil {
		p.err = err
	}
}

// recycle keeps an acknowledged (or failed) batch's storage for the
// builders: a few buffers go round instead of one allocation per batch.
func (p *Producer) recycle(b *batch) {
	if len(p.free) < 2*maxInFlight && cap(b.data) <= 2*p.opts.BatchBytes {
		p.free = append(p.free, b.data[:0])
	}
	b.data = nil
}

// connCause is the root of a connection error, for a message: "EOF",
// "connection reset by peer".
func connCause(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// nextSequence is seq moved on by n records; sequences wrap to 0 after the
// largest int32, as Kafka's do.
func nextSequence(seq int32, n int) int32 {
	return int32((int64(seq) + int64(n)) % (1 << 31))
}
