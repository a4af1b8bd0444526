package cluster

import (
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

// Producing to a Kafka cluster through kgo. Records are sent as they come
// (no linger: a line that trickles in is sent at once; kgo batches what
// arrives while a request is in flight), uncompressed as mk's own
// producer writes them, partitioned as Kafka's Java client does (murmur2
// of the key; without a key, the uniform sticky partitioner of KIP-794
// that fills a batch.size worth of records per partition).

// defaultMaxMessageBytes is Kafka's max.message.bytes default, for a
// cluster that does not tell a topic's.
const defaultMaxMessageBytes = 1048588

type kafkaProducer struct {
	cl         *kgo.Client
	topic      string
	partitions int
	maxBytes   int64
	opts       ProducerOptions
	ctx        context.Context
	cancel     context.CancelFunc

	mu       sync.Mutex // OnAck, OnRecord and firstErr
	firstErr error
	sent     int64 // Send calls so far: the next record's index
	acked    atomic.Int64
	failed   atomic.Int64
}

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
	partitions, err := k.produceTopic(ctx, topic, opts)
	if err != nil {
		return nil, err
	}
	maxBytes := k.maxMessageBytes(ctx, topic)
	kopts := []kgo.Opt{
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(int32(min(maxBytes, 1<<30))),
		kgo.RecordPartitioner(mkPartitioner{kgo.UniformBytesPartitioner(opts.BatchBytes, true, true, nil)}),
		kgo.RecordDeliveryTimeout(opts.Timeout),
		kgo.ProduceRequestTimeout(opts.Timeout),
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
	cl, err := k.newClient(kopts...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	return &kafkaProducer{cl: cl, topic: topic, partitions: partitions, maxBytes: maxBytes, opts: opts, ctx: pctx, cancel: cancel}, nil
}

// produceTopic is the topic's partition count, after creating it if it is
// unknown and may be created.
func (k *Kafka) produceTopic(ctx context.Context, topic string, opts ProducerOptions) (int, error) {
	ctx, cancel := k.requestContext(ctx)
	defer cancel()
	tds, err := k.adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return 0, k.mapErr(ctx, err)
	}
	td := detail(tds, topic)
	if td.Err == nil {
		return len(td.Partitions), nil
	}
	if !errors.Is(td.Err, kerr.UnknownTopicOrPartition) || !opts.AutoCreate {
		return 0, topicErr(topic, td.Err)
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
			return 0, k.mapErr(ctx, err)
		}
		if len(resp.Topics) != 1 {
			return 0, fmt.Errorf("metadata of topic %s: %d topics in the answer", topic, len(resp.Topics))
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
			return len(t.Partitions), nil
		case errors.Is(terr, kerr.UnknownTopicOrPartition):
			return 0, topicErr(topic, terr) // the cluster does not create topics
		case terr != nil && !kerr.IsRetriable(terr):
			return 0, topicErr(topic, terr)
		}
		// Being created: ask again shortly (a remote cluster cannot be
		// watched), within the request's deadline.
		select {
		case <-ctx.Done():
			return 0, k.mapErr(ctx, fmt.Errorf("%w: topic %s was created but has no leaders yet", client.ErrLeaderNotReady, topic))
		case <-time.After(50 * time.Millisecond):
		}
	}
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
// record, so that a producer stops reading input once records fail. kgo
// keeps the record until it is acknowledged, so its key, value and headers
// are copied: the caller's slices point into its input buffer, which the
// next line overwrites.
func (p *kafkaProducer) Send(partition int32, timestamp int64, key, value []byte, headers []logdir.Header) error {
	if err := p.err(); err != nil {
		return err
	}
	if partition >= 0 && int(partition) >= p.partitions {
		return client.PartitionRangeError(p.topic, int(partition), p.partitions)
	}
	size := int64(recordOverhead + len(key) + len(value))
	// One allocation for the key and the value; nil stays nil (a null key
	// or value is not an empty one).
	buf := make([]byte, 0, len(key)+len(value))
	var k, v []byte
	if key != nil {
		buf = append(buf, key...)
		k = buf[:len(key):len(key)]
	}
	if value != nil {
		buf = append(buf, value...)
		v = buf[len(buf)-len(value):]
	}
	r := &kgo.Record{Key: k, Value: v, Timestamp: time.UnixMilli(timestamp), Partition: partition}
	for _, h := range headers {
		size += int64(len(h.Key) + len(h.Value) + 10)
		var hv []byte
		if h.Value != nil {
			hv = append([]byte{}, h.Value...)
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: hv})
	}
	if size > p.maxBytes {
		return &client.RecordTooLargeError{Size: size, Max: p.maxBytes}
	}
	if partition < 0 {
		r.Partition = autoPartition
	}
	r.Context = p.ctx
	if p.opts.OnRecord != nil {
		r.Context = recordIndex{p.ctx, p.sent}
	}
	p.sent++
	p.cl.Produce(p.ctx, r, p.promise)
	return nil
}

// recordIndex carries a record's Send index to its promise.
type recordIndex struct {
	context.Context
	index int64
}

func (p *kafkaProducer) promise(r *kgo.Record, err error) {
	if p.opts.OnRecord != nil {
		off := r.Offset
		if err != nil {
			off = -1
		}
		p.mu.Lock()
		p.opts.OnRecord(r.Context.(recordIndex).index, r.Partition, off, err != nil)
		p.mu.Unlock()
	}
	if err != nil {
		p.failed.Add(1)
		p.mu.Lock()
		if p.firstErr == nil {
			p.firstErr = p.recordErr(err)
		}
		p.mu.Unlock()
		return
	}
	p.acked.Add(1)
	if p.opts.OnAck != nil {
		p.mu.Lock()
		p.opts.OnAck(r.Partition, r.Offset, 1)
		p.mu.Unlock()
	}
}

// recordErr says why a record failed, in mk's terms.
func (p *kafkaProducer) recordErr(err error) error {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return newKafkaError(client.ErrTopicDeleted, err, "topic %s was deleted while producing to it", p.topic)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return newKafkaError(client.ErrNotAcknowledged, err, "a record is larger than max.message.bytes %d of topic %s", p.maxBytes, p.topic)
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, context.DeadlineExceeded):
		return newKafkaError(client.ErrNotAcknowledged, err, "records were not acknowledged within %s", p.opts.Timeout)
	}
	return kafkaErr(err)
}

func (p *kafkaProducer) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr
}

// Idle returns the first failure so far: records are already on their
// way (no linger), and waiting for their acknowledgement would only stall
// the input.
func (p *kafkaProducer) Idle() error { return p.err() }

// Flush waits until every record sent so far is acknowledged or failed.
func (p *kafkaProducer) Flush() error {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.Timeout+5*time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("%w: %d records still unacknowledged after %s", client.ErrNotAcknowledged, p.cl.BufferedProduceRecords(), p.opts.Timeout)
	}
	return p.err()
}

// Close flushes and closes the producer's connections.
func (p *kafkaProducer) Close() error {
	err := p.Flush()
	p.cancel()
	p.cl.Close()
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

type mkTopicPartitioner struct{ inner kgo.TopicPartitioner }

// RequiresConsistency: a named partition must be used even when it has no
// leader right now (kgo then passes every partition, in order).
func (p *mkTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition != autoPartition || p.inner.RequiresConsistency(r)
}

func (p *mkTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition != autoPartition {
		return int(r.Partition)
	}
	return p.inner.Partition(r, n)
}

func (p *mkTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, backup kgo.TopicBackupIter) int {
	if r.Partition != autoPartition {
		return int(r.Partition)
	}
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
