package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// Producing to a Kafka cluster through kgo. Records linger up to
// linger.ms (5 ms, Kafka's and librdkafka's default) to fill batches, but
// a line that trickles in does not wait: when the input goes idle (Idle)
// what lingers is sent at once. Uncompressed as mk's own producer writes
// them, partitioned as Kafka's Java client does (murmur2 of the key;
// without a key, the uniform sticky partitioner of KIP-794 that fills a
// batch.size worth of records per partition).

// linger is how long a record may wait for others to fill its batch
// (linger.ms): batches of thousands of records instead of hundreds, a
// tenth of the requests.
var linger = 5 * time.Millisecond

// defaultMaxMessageBytes is Kafka's max.message.bytes default, for a
// cluster that does not tell a topic's.
const defaultMaxMessageBytes = 1048588

// maxBatchBytes bounds the record batches a producer makes (librdkafka's
// batch.size, and about kgo's default), whatever the topic's
// max.message.bytes: a Kafka broker, mk's among them, reuses its buffer
// for requests of up to about 1 MiB and allocates one for each larger
// request, and at Kafka's default max.message.bytes (1 MiB + 12) a full
// batch's request is just larger (for mk's broker that doubled its CPU
// time per record). A record too large for such a batch, and within the
// topic's limit, is sent alone (sendLarge).
const maxBatchBytes = 1000000

// batchMaxBytes is kgo's batch limit; kgo refuses one under 512 bytes (a
// topic whose max.message.bytes is smaller still has each record checked
// by Send, and a batch of several small records over the limit is refused
// by the broker, MESSAGE_TOO_LARGE, as with any client).
func batchMaxBytes(n int64) kgo.Opt {
	return kgo.ProducerBatchMaxBytes(int32(min(max(n, 512), 1<<30)))
}

type kafkaProducer struct {
	k          *Kafka
	cl         *kgo.Client
	topic      string
	partitions int
	maxBytes   int64
	opts       ProducerOptions
	ctx        context.Context
	cancel     context.CancelFunc

	// batchMax is cl's batch limit; large sends the records larger than
	// that (made when the first comes, from kopts).
	batchMax int64
	kopts    []kgo.Opt
	large    *kgo.Client
	// closeOnce closes cl and large: at Close, or when a flush gives up.
	closeOnce sync.Once

	mu       sync.Mutex // OnAck, OnRecord and firstErr
	firstErr error
	failing  atomic.Bool // firstErr is set (read by Send without the lock)
	acked    atomic.Int64
	failed   atomic.Int64
	sent     int64 // Send calls so far: the next record's index (OnRecord)

	// rctx is the context records are sent with: its deadline is Timeout
	// after it was made. renewContexts makes a new one every deadlineStep,
	// so a record's delivery deadline is --timeout after it was sent, give
	// or take a step, for one timer per step rather than per record (and
	// no clock reading per record: reading it costs as much as the rest
	// of a record's way into kgo). Cancelling ctx ends them all.
	rctx atomic.Pointer[context.Context]
	// sentDeadline is the deadline (UnixNano) of the records handed to
	// kgo last: no record sent so far has a later one.
	sentDeadline atomic.Int64

	// leaderless are the partitions that had no live leader when the
	// producer started, and why; warned, those a record was sent to
	// (the producer says once that it waits for their leader).
	leaderless map[int32]error
	warned     map[int32]bool
	// sentLeaderless is the first of them a record was sent to, or -1.
	sentLeaderless atomic.Int32

	// A producer allocates nothing per record once it runs: records,
	// the blocks their bytes are copied into and the slices that carry
	// them to kgo are reused, so that the garbage collector has next to
	// nothing to do (at Go's default GOGC, collecting took a tenth of the
	// CPU when every record was new).
	//
	// slab is the block Send copies keys, values and header values into
	// (kgo keeps a record until it is acknowledged, and the caller reuses
	// its buffers as soon as Send returns); a block is reused once every
	// record copied into it is done.
	slab *slab
	// spare are records kgo is done with (it calls the promise last),
	// taken by Send a handful at a time from free, where the promise
	// puts them (under freeMu).
	spare  []*mkRecord
	freeMu sync.Mutex
	free   []*mkRecord
	slabs  []*slab
	// promiseFn is p.promise, made once (a method value is a new closure
	// each time it is taken).
	promiseFn func(*kgo.Record, error)

	// pending are the records Send made that produce has not been given;
	// work carries them there, and the emptied slices come back on
	// returned; produced is closed when produce returns.
	pending  []*mkRecord
	work     chan handoff
	returned chan []*mkRecord
	produced chan struct{}
}

// mkRecord is a record on its way through kgo, and what its promise needs
// to know: its Send index (OnRecord) and the slab holding its bytes. It is
// the record's Context, so that the promise finds it without a map (a
// Context of no deadline, never done: kgo does not read it).
type mkRecord struct {
	r     kgo.Record
	index int64
	slab  *slab
}

func (*mkRecord) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*mkRecord) Done() <-chan struct{}       { return nil }
func (*mkRecord) Err() error                  { return nil }
func (*mkRecord) Value(any) any               { return nil }

// slab is a block of record bytes; refs counts the records copied into it
// that are not done, plus one while Send still copies into it.
type slab struct {
	buf  []byte
	refs atomic.Int64
}

// deadlineStep is how often a producer starts a new record context.
const deadlineStep = 100 * time.Millisecond

// slabSize is the size of the blocks records are copied into.
const slabSize = 256 << 10

// NewProducer opens topic for producing. An unknown topic is created by
// the cluster when opts.AutoCreate is on and the cluster allows it
// (auto.create.topics.enable), through a Metadata request as Kafka's
// producers do.
func (k *Kafka) NewProducer(ctx context.Context, topic string, opts ProducerOptions) (Producer, error) {
	if err := coord.ValidateTopicName(topic); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 16 << 10
	}
	// The first records' deadline counts from DialKafka: finding the topic
	// and its limit come out of their --timeout, so that a producer
	// whose setup waited on a broker that does not answer still ends
	// within it.
	start := time.Now()
	if d := k.dialStart; !d.IsZero() && start.Sub(d) < opts.Timeout {
		start = d // the command's connecting counts too
	}
	sctx, scancel := context.WithDeadline(ctx, start.Add(opts.Timeout))
	defer scancel()
	partitions, leaderless, err := k.produceTopic(sctx, topic, opts)
	if err != nil {
		return nil, err
	}
	// max.message.bytes is worth waiting for only a while (the default
	// is used without it).
	mctx, mcancel := context.WithTimeout(sctx, requestTimeout(opts.Timeout))
	maxBytes := k.maxMessageBytes(mctx, topic)
	mcancel()
	kopts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(mkPartitioner{kgo.UniformBytesPartitioner(opts.BatchBytes, true, true, nil)}),
		// No kgo.RecordDeliveryTimeout: kgo measures it from each record's
		// timestamp, and a record of --input json may carry one from long
		// ago (it would fail at once). Each record's context has the
		// deadline instead (recordContext).
		//
		// The leader waits a quarter of the timeout for its in-sync
		// replicas (then answers REQUEST_TIMED_OUT, and kgo retries
		// until the record's deadline), and kgo half the timeout more
		// for the leader's answer (the request timeout overhead): a
		// record held by a stopped follower or sent to a stopped
		// leader fails soon after its deadline, not a request later.
		kgo.ProduceRequestTimeout(requestTimeout(opts.Timeout) / 2),
	}
	switch opts.Acks {
	case client.AcksAll:
		kopts = append(kopts, kgo.RequiredAcks(kgo.AllISRAcks()))
		if !opts.Idempotent {
			kopts = append(kopts, kgo.DisableIdempotentWrite())
		}
	case client.AcksLeader:
		kopts = append(kopts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	default:
		kopts = append(kopts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	}
	batchMax := min(maxBytes, maxBatchBytes)
	cl, err := k.newClient(append(kopts, batchMaxBytes(batchMax))...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &kafkaProducer{k: k, cl: cl, topic: topic, partitions: partitions, maxBytes: maxBytes, opts: opts, ctx: pctx, cancel: cancel,
		leaderless: leaderless, warned: map[int32]bool{}, batchMax: batchMax, kopts: kopts}
	p.promiseFn = p.promise
	p.sentLeaderless.Store(-1)
	p.pending = make([]*mkRecord, 0, handoffSize)
	p.work, p.produced = make(chan handoff, handoffs), make(chan struct{})
	p.returned = make(chan []*mkRecord, handoffs+2)
	go p.produce()
	go p.renewContexts(p.newRecordContext(start.Add(opts.Timeout)), start.Add(opts.Timeout))
	return p, nil
}

// produceTopic is the topic's partition count, after creating it if it is
// unknown and may be created, and why its partitions without a live
// leader have none.
func (k *Kafka) produceTopic(ctx context.Context, topic string, opts ProducerOptions) (int, map[int32]error, error) {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return 0, nil, k.mapErr(ctx, err)
	}
	td := detail(tds, topic)
	if td.Err == nil {
		leaderless := map[int32]error{}
		for _, p := range td.Partitions {
			if p.Leader < 0 {
				leaderless[p.Partition] = noLeader(topic, p)
			}
		}
		return len(td.Partitions), leaderless, nil
	}
	if !errors.Is(td.Err, kerr.UnknownTopicOrPartition) || !opts.AutoCreate {
		return 0, nil, topicErr(topic, td.Err)
	}
	// Ask as a producer does; a cluster that allows it creates the topic
	// and answers LEADER_NOT_AVAILABLE until its leaders are elected.
	for {
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, k.cl)
		if err != nil {
			return 0, nil, k.mapErr(ctx, err)
		}
		if len(resp.Topics) != 1 {
			return 0, nil, fmt.Errorf("metadata of topic %s: %d topics in the answer", topic, len(resp.Topics))
		}
		t := resp.Topics[0]
		terr := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case terr == nil && len(t.Partitions) > 0:
			rf := 0
			for _, p := range t.Partitions {
				rf = max(rf, len(p.Replicas))
			}
			if opts.OnCreate != nil {
				opts.OnCreate(topic, len(t.Partitions), rf)
			}
			return len(t.Partitions), nil, nil
		case errors.Is(terr, kerr.UnknownTopicOrPartition):
			return 0, nil, topicErr(topic, terr) // the cluster does not create topics
		case terr != nil && !kerr.IsRetriable(terr):
			return 0, nil, k.whyNotCreated(ctx, topic, terr)
		}
		// Being created: ask again shortly (a remote cluster cannot be
		// watched), within the request's deadline.
		select {
		case <-ctx.Done():
			return 0, nil, k.mapErr(ctx, fmt.Errorf("%w: topic %s was created but has no leaders yet", client.ErrLeaderNotReady, topic))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// whyNotCreated is the error of a topic the cluster refused to create on
// a producer's Metadata request (a Metadata answer has an error code but
// no message): a validate-only CreateTopics with the cluster's defaults
// asks the cluster for its reason, which it gives with a message.
func (k *Kafka) whyNotCreated(ctx context.Context, topic string, terr error) error {
	rs, err := k.adm.ValidateCreateTopics(ctx, -1, -1, nil, topic)
	if err == nil {
		if r, ok := rs[topic]; ok && r.Err != nil && r.ErrMessage != "" && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return brokerErr("create topic "+topic, r.Err, r.ErrMessage)
		}
	}
	return topicErr(topic, terr)
}

// maxMessageBytes is the topic's max.message.bytes, as the cluster tells.
func (k *Kafka) maxMessageBytes(ctx context.Context, topic string) int64 {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	rcs, err := k.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return defaultMaxMessageBytes
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key == coord.ConfigMaxMessageBytes && c.Value != nil {
				if n, err := strconv.ParseInt(*c.Value, 10, 64); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return defaultMaxMessageBytes
}

func (p *kafkaProducer) Partitions() int        { return p.partitions }
func (p *kafkaProducer) MaxMessageBytes() int64 { return p.maxBytes }
func (p *kafkaProducer) Acked() int64           { return p.acked.Load() }
func (p *kafkaProducer) Failed() int64          { return p.failed.Load() }

// recordOverhead bounds a record batch's framing around one record: the
// batch header (61 bytes) and the record's varints.
const recordOverhead = 61 + 21

// Send queues a record. It returns the first failure of an earlier
// record, so that a producer stops reading input once records fail.
func (p *kafkaProducer) Send(partition int32, timestamp int64, key, value []byte, headers []logdir.Header) error {
	if err := p.err(); err != nil {
		return err
	}
	if partition >= 0 && int(partition) >= p.partitions {
		return client.PartitionRangeError(p.topic, int(partition), p.partitions)
	}
	size := int64(recordOverhead + len(key) + len(value))
	for _, h := range headers {
		size += int64(len(h.Key) + len(h.Value) + 10)
	}
	if size > p.maxBytes {
		// The bound is over: the broker refuses only a batch of the record
		// alone that is larger, as the local producer does.
		if exact := int64(logdir.RecordSize(0, 0, key, value, headers) + logdir.BatchHeaderSize); exact > p.maxBytes {
			return &client.RecordTooLargeError{Size: exact, Max: p.maxBytes}
		}
	}
	if size > p.batchMax {
		return p.sendLarge(partition, timestamp, key, value, headers)
	}
	m := p.record()
	p.reserve(int(size))
	m.slab = p.slab
	r := &m.r
	r.Key, r.Value, r.Timestamp, r.Partition = p.copy(key), p.copy(value), time.UnixMilli(timestamp), partition
	if len(headers) > 0 {
		r.Headers = r.Headers[:0]
		for _, h := range headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: p.copy(h.Value)})
		}
	}
	if partition < 0 {
		r.Partition = autoPartition
	}
	if len(p.leaderless) > 0 {
		p.warnNoLeader(partition, key)
	}
	m.index = p.sent
	p.sent++
	p.pending = append(p.pending, m)
	if len(p.pending) == handoffSize {
		p.handoff(false, nil)
	}
	return nil
}

// sendLarge sends a record too large for cl's batches through large, a
// client whose batches may be as large as the topic allows, once every
// record sent before is acknowledged, and waits for it, so that records
// keep their order. (Such records are rare: the topic's limit must have
// been raised for them, and each is a batch and a request of its own.)
func (p *kafkaProducer) sendLarge(partition int32, timestamp int64, key, value []byte, headers []logdir.Header) error {
	if err := p.Flush(); err != nil {
		return err
	}
	if p.large == nil {
		// kgo counts the records field's length prefix (4 bytes, or a
		// uvarint of at most 5) in a batch, the broker does not: a record
		// whose batch is exactly max.message.bytes is still taken. One
		// record at a time goes through this client, checked by Send.
		cl, err := p.k.newClient(append(p.kopts, batchMaxBytes(p.maxBytes+5))...)
		if err != nil {
			return err
		}
		p.large = cl
	}
	m := &mkRecord{index: p.sent}
	r := &m.r
	r.Context = m
	r.Key, r.Value, r.Timestamp, r.Partition = bytes.Clone(key), bytes.Clone(value), time.UnixMilli(timestamp), partition
	for _, h := range headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: bytes.Clone(h.Value)})
	}
	if partition < 0 {
		r.Partition = autoPartition
	}
	if len(p.leaderless) > 0 {
		p.warnNoLeader(partition, key)
	}
	p.sent++
	p.large.Produce(p.sendContext(), r, p.promiseFn)
	if err := flushBounded(p, p.large); err != nil {
		return err
	}
	return p.err()
}

// record is a record to fill: one kgo is done with, or a new one.
func (p *kafkaProducer) record() *mkRecord {
	if len(p.spare) == 0 {
		p.freeMu.Lock()
		p.spare, p.free = p.free, p.spare[:0]
		p.freeMu.Unlock()
		if len(p.spare) == 0 {
			// A block of them at once; how many there are is bounded
			// by how many kgo holds (MaxBufferedRecords) and the runs
			// waiting for produce.
			block := make([]mkRecord, handoffSize)
			for i := range block {
				block[i].r.Context = &block[i]
				p.spare = append(p.spare, &block[i])
			}
		}
	}
	m := p.spare[len(p.spare)-1]
	p.spare = p.spare[:len(p.spare)-1]
	return m
}

// A producer is two goroutines: the caller's, which reads the input and
// makes records (Send), and one that hands them to kgo (produce), a
// handoffSize of them at a time: kgo's part of a record costs as much as
// the rest, and the two run side by side, as a reading thread and
// librdkafka's do in kcat. Records keep their order.

// handoffSize is how many records Send passes on at once; handoffs is
// how many such runs may wait for produce.
const (
	handoffSize = 256
	handoffs    = 4
)

// handoff is what Send passes to produce: records and the context they
// are sent with, then what to do once they are with kgo: send what
// lingers (idle), or tell that they are (done).
type handoff struct {
	ctx  context.Context
	recs []*mkRecord
	idle bool
	done chan struct{}
}

// handoff passes the pending records to produce, with the context of the
// records sent now (a run of records is made in far less than
// deadlineStep), and starts a new run.
func (p *kafkaProducer) handoff(idle bool, done chan struct{}) {
	p.work <- handoff{ctx: p.sendContext(), recs: p.pending, idle: idle, done: done}
	select {
	case p.pending = <-p.returned:
	default:
		p.pending = make([]*mkRecord, 0, handoffSize)
	}
}

// produce gives kgo the records Send made, in order, until work is closed.
func (p *kafkaProducer) produce() {
	defer close(p.produced)
	for h := range p.work {
		for _, m := range h.recs {
			if p.failing.Load() {
				// The producer is failing: Send stops, and the records
				// queued for kgo fail at once rather than each wait
				// for room in kgo's buffer (which records held by a
				// broker that does not answer free only at their
				// deadlines).
				p.promise(&m.r, errProducerFailed)
				continue
			}
			p.cl.Produce(h.ctx, &m.r, p.promiseFn)
		}
		select {
		case p.returned <- h.recs[:0]:
		default:
		}
		if h.idle {
			p.cl.Flush(doneContext)
		}
		if h.done != nil {
			close(h.done)
		}
	}
}

// errProducerFailed fails the records queued after the producer failed.
var errProducerFailed = errors.New("not sent: an earlier record failed")

// sync hands off what Send has made and waits until kgo has it.
func (p *kafkaProducer) sync() {
	done := make(chan struct{})
	p.handoff(false, done)
	<-done
}

// warnNoLeader says, once per partition, that records sent to a partition
// without a live leader wait for one (a record without a key or partition
// goes to a partition with a leader).
func (p *kafkaProducer) warnNoLeader(partition int32, key []byte) {
	if partition < 0 {
		if key == nil {
			return
		}
		partition = client.KeyPartition(key, p.partitions)
	}
	err := p.leaderless[partition]
	if err != nil {
		p.sentLeaderless.CompareAndSwap(-1, partition)
	}
	if err == nil || p.warned[partition] || p.opts.Warnf == nil {
		return
	}
	p.warned[partition] = true
	p.opts.Warnf("%v; retrying for up to %s", err, p.opts.Timeout)
}

// copy copies b into the slab (nil stays nil: a null key or value). A
// record's copies all go in one slab, which reserve made room in before
// the first (the record holds one reference to it); what does not fit
// (a value over slabSize/8) is a copy of its own.
func (p *kafkaProducer) copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > slabSize/8 || len(p.slab.buf)+len(b) > cap(p.slab.buf) {
		return append([]byte{}, b...)
	}
	n := len(p.slab.buf)
	p.slab.buf = append(p.slab.buf, b...)
	return p.slab.buf[n:len(p.slab.buf):len(p.slab.buf)]
}

// reserve makes sure the slab has room for a record of size bytes (when
// one can), and counts the record's reference to it.
func (p *kafkaProducer) reserve(size int) {
	if p.slab == nil || len(p.slab.buf)+min(size, slabSize) > cap(p.slab.buf) {
		p.newSlab()
	}
	p.slab.refs.Add(1)
}

// newSlab starts a slab: a free one, or a new one.
func (p *kafkaProducer) newSlab() {
	if p.slab != nil {
		p.release(p.slab) // Send's own reference
	}
	p.freeMu.Lock()
	if n := len(p.slabs); n > 0 {
		p.slab, p.slabs = p.slabs[n-1], p.slabs[:n-1]
	} else {
		p.slab = &slab{buf: make([]byte, 0, slabSize)}
	}
	p.freeMu.Unlock()
	p.slab.buf = p.slab.buf[:0]
	p.slab.refs.Store(1)
}

// release drops a reference to s; the last one frees it.
func (p *kafkaProducer) release(s *slab) {
	if s.refs.Add(-1) == 0 {
		p.freeMu.Lock()
		p.slabs = append(p.slabs, s)
		p.freeMu.Unlock()
	}
}

// recordContext is the context a record is sent with: it ends --timeout
// after the record was sent (give or take deadlineStep), which fails the
// record if it was not acknowledged by then (delivery.timeout.ms).
func (p *kafkaProducer) recordContext() context.Context { return *p.rctx.Load() }

// sendContext is recordContext for records about to be handed to kgo,
// whose deadline it keeps as sentDeadline.
func (p *kafkaProducer) sendContext() context.Context {
	ctx := p.recordContext()
	if d, ok := ctx.Deadline(); ok {
		p.sentDeadline.Store(d.UnixNano())
	}
	return ctx
}

// newRecordContext starts the context of the records sent from now on.
func (p *kafkaProducer) newRecordContext(deadline time.Time) context.CancelFunc {
	ctx, cancel := context.WithDeadline(p.ctx, deadline)
	p.rctx.Store(&ctx)
	return cancel
}

// renewContexts makes a new record context every deadlineStep until the
// producer closes, and releases each once its deadline has passed (a
// cancel then changes nothing for its records).
func (p *kafkaProducer) renewContexts(first context.CancelFunc, deadline time.Time) {
	type made struct {
		cancel   context.CancelFunc
		deadline time.Time
	}
	live := []made{{first, deadline}}
	defer func() {
		for _, m := range live {
			m.cancel()
		}
	}()
	t := time.NewTicker(deadlineStep)
	defer t.Stop()
	// The watchdog: kgo fails a record past its deadline only once no
	// request carries it, and a leader that waits on a stopped follower
	// (or a stopped leader) keeps some request under way for as long as
	// records come. Records held with no acknowledgement nor failure for
	// the timeout (and flushGrace) since the producer started or last
	// made progress are failed: the producer gives up.
	var (
		done     int64
		progress = deadline.Add(-p.opts.Timeout)
	)
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-t.C:
			if n := p.acked.Load() + p.failed.Load(); n != done || p.cl.BufferedProduceRecords() == 0 {
				done, progress = n, now
			} else if now.Sub(progress) > p.opts.Timeout+flushGrace {
				p.giveUp()
				progress = now
			}
			for len(live) > 0 && now.After(live[0].deadline.Add(deadlineStep)) {
				live[0].cancel()
				live = live[1:]
			}
			live = append(live, made{p.newRecordContext(now.Add(p.opts.Timeout)), now.Add(p.opts.Timeout)})
		}
	}
}

func (p *kafkaProducer) promise(r *kgo.Record, err error) {
	m := r.Context.(*mkRecord)
	defer p.recycle(m)
	if p.opts.OnRecord != nil {
		off := r.Offset
		if err != nil || p.opts.Acks == client.AcksNone {
			off = -1
		}
		p.mu.Lock()
		p.opts.OnRecord(m.index, r.Partition, off, err != nil)
		p.mu.Unlock()
	}
	if err != nil {
		p.failed.Add(1)
		if p.err() != nil {
			return
		}
		err = p.recordErr(r, err)
		p.mu.Lock()
		if p.firstErr == nil {
			p.firstErr = err
			p.failing.Store(true)
		}
		p.mu.Unlock()
		return
	}
	p.acked.Add(1)
	if p.opts.OnAck != nil {
		p.mu.Lock()
		off := r.Offset
		if p.opts.Acks == client.AcksNone {
			off = -1 // no answer, no offset (Kafka's producers say -1)
		}
		p.opts.OnAck(r.Partition, off, 1)
		p.mu.Unlock()
	}
}

// recycle keeps m to be sent again, and releases its slab; kgo is done
// with a record once its promise returns (it reads the record's size
// before).
func (p *kafkaProducer) recycle(m *mkRecord) {
	if m.slab != nil {
		p.release(m.slab)
	}
	hs := m.r.Headers[:0]
	m.r = kgo.Record{Context: m, Headers: hs}
	m.slab = nil
	p.freeMu.Lock()
	p.free = append(p.free, m)
	p.freeMu.Unlock()
}

// recordErr says why a record failed, in mk's terms: a record that timed
// out waiting for its partition's leader says so, as it would locally.
func (p *kafkaProducer) recordErr(r *kgo.Record, err error) error {
	timedOut := errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded)
	if na := p.k.watch.noAnswer(); na != nil && timedOut {
		// Asking the cluster about the partition's leader could wait
		// on that broker again.
		return newKafkaError(client.ErrNotAcknowledged, na, "%s: its records may or may not be stored", na.Error())
	}
	if errors.Is(sentinelOr(kafkaErr(err)), client.ErrNoLeader) || errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded) {
		if nl := p.k.leaderlessNow(p.topic, r.Partition); nl != nil {
			return nl
		}
	}
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return newKafkaError(client.ErrTopicDeleted, err, "topic %s was deleted while producing to it", p.topic)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return newKafkaError(client.ErrNotAcknowledged, err, "a record is larger than max.message.bytes %d of topic %s", p.maxBytes, p.topic)
	case timedOut:
		return newKafkaError(client.ErrNotAcknowledged, err, "records were not acknowledged within %s", p.opts.Timeout)
	}
	return kafkaErr(err)
}

func (p *kafkaProducer) err() error {
	if !p.failing.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}

// Idle sends what lingers, and returns the first failure so far; it does
// not wait for acknowledgements, which would only stall the input. (kgo's
// Flush stops every linger before it waits; with a context already done
// it returns at once.)
func (p *kafkaProducer) Idle() error {
	p.handoff(true, nil)
	return p.err()
}

// doneContext is a context that is already done.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Flush waits until every record sent so far is acknowledged or failed:
// at most the timeout and flushGrace. kgo fails a record whose deadline
// passed only once no request carries it, and a broker that does not
// answer holds the request until the connection's read deadline; past
// the bound, the producer closes its connections, which fails them.
func (p *kafkaProducer) Flush() error {
	p.sync()
	if err := flushBounded(p, p.cl); err != nil {
		return err
	}
	return p.err()
}

// flushGrace is how long past --timeout a flush waits before it gives
// up on records still unanswered.
const flushGrace = 250 * time.Millisecond

// failGrace is how long a failing producer's flush waits for the
// acknowledgements under way.
const failGrace = 250 * time.Millisecond

// flushBounded flushes cl until every record sent so far is past its
// deadline (and flushGrace), or else fails the records it still holds
// (closing the producer's clients) and says which broker did not answer.
func flushBounded(p *kafkaProducer, cl *kgo.Client) error {
	deadline := time.Now().Add(flushGrace) // nothing sent yet
	if d := p.sentDeadline.Load(); d != 0 {
		deadline = time.Unix(0, d).Add(flushGrace)
	}
	if p.err() != nil {
		// The producer is failing (a record was not acknowledged in
		// time, or refused): the command ends with that error once the
		// acknowledgements under way come in; it does not wait out the
		// deadlines of records held by the broker that failed it.
		deadline = time.Now().Add(failGrace)
	}
	ctx, cancel := context.WithDeadline(p.ctx, deadline)
	defer cancel()
	if cl.Flush(ctx) == nil {
		return nil
	}
	p.fail(p.stuckErr(fmt.Sprintf("%d records still unacknowledged after %s", cl.BufferedProduceRecords(), p.opts.Timeout)))
	p.closeClients()
	// Closed, kgo fails every record it holds at once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	cl.Flush(ctx2)
	return p.err()
}

// fail makes err the producer's error, unless it has one.
func (p *kafkaProducer) fail(err error) {
	p.mu.Lock()
	if p.firstErr == nil {
		p.firstErr = err
		p.failing.Store(true)
	}
	p.mu.Unlock()
}

// giveUp fails every record kgo holds (closing the connections), saying
// which broker did not answer.
func (p *kafkaProducer) giveUp() {
	p.fail(p.stuckErr(fmt.Sprintf("records were not acknowledged within %s", p.opts.Timeout)))
	p.closeClients()
}

// stuckErr says why records were not acknowledged in time: a broker did
// not answer, or a partition sent to had no leader from the start (as
// recordErr says for a record kgo fails), or else what.
func (p *kafkaProducer) stuckErr(what string) error {
	if na := p.k.watch.noAnswer(); na != nil {
		return newKafkaError(client.ErrNotAcknowledged, na, "%s: its records may or may not be stored", na.Error())
	}
	if part := p.sentLeaderless.Load(); part >= 0 {
		return p.leaderless[part]
	}
	return newKafkaError(client.ErrNotAcknowledged, context.DeadlineExceeded, "%s", what)
}

// closeClients closes the producer's connections, once.
func (p *kafkaProducer) closeClients() {
	p.closeOnce.Do(func() {
		p.cl.Close()
		if p.large != nil {
			p.large.Close()
		}
	})
}

// Close flushes and closes the producer's connections.
func (p *kafkaProducer) Close() error {
	err := p.Flush()
	close(p.work)
	<-p.produced
	p.cancel()
	p.closeClients()
	return err
}

// autoPartition marks a record whose partition the partitioner chooses;
// any other value is a partition the user named (--partition, or the
// "partition" of a JSON line).
const autoPartition = -1

// mkPartitioner sends a record with a partition to it, and lets Kafka's
// partitioner choose for the others.
type mkPartitioner struct{ kgo.Partitioner }

func (p mkPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &mkTopicPartitioner{inner: p.Partitioner.ForTopic(t)}
}

// mkTopicPartitioner is called under kgo's lock of the topic's
// partitions, one record at a time.
type mkTopicPartitioner struct {
	inner kgo.TopicPartitioner
	// auto is the last record the inner partitioner chose for. kgo sets
	// a record's Partition when it buffers it, then may ask again for
	// the same record (a new batch starts: KIP-480): that record's
	// Partition is kgo's choice, not the user's.
	auto *kgo.Record
}

func (p *mkTopicPartitioner) isAuto(r *kgo.Record) bool {
	return r.Partition == autoPartition || r == p.auto
}

// RequiresConsistency: a named partition must be used even when it has no
// leader right now (kgo then passes every partition, in order). kgo asks
// it first for every record it partitions: auto is for the record before
// (records are recycled: the same pointer may be a new record).
func (p *mkTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	p.auto = nil
	return !p.isAuto(r) || p.inner.RequiresConsistency(r)
}

func (p *mkTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if !p.isAuto(r) {
		return int(r.Partition)
	}
	p.auto = r
	return p.inner.Partition(r, n)
}

func (p *mkTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, backup kgo.TopicBackupIter) int {
	if !p.isAuto(r) {
		return int(r.Partition)
	}
	p.auto = r
	if b, ok := p.inner.(kgo.TopicBackupPartitioner); ok {
		return b.PartitionByBackup(r, n, backup)
	}
	return p.inner.Partition(r, n)
}

func (p *mkTopicPartitioner) OnNewBatch() {
	if b, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		b.OnNewBatch()
	}
}

// leaderlessNow is the error of partition p of topic if it has no live
// leader now (nil if it has one, or the cluster does not say in time).
func (k *Kafka) leaderlessNow(topic string, p int32) error {
	// It runs in a record's promise, which holds up the others: a
	// broker that does not answer must not hold it for long.
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout(k.opts.Timeout))
	defer cancel()
	tds, err := k.adm.ListTopics(ctx, topic)
	if err != nil {
		return nil
	}
	if pd, ok := detail(tds, topic).Partitions[p]; ok && pd.Leader < 0 {
		return noLeader(topic, pd)
	}
	return nil
}
