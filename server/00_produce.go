package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/coord"
	"mk/logdir"
	"mk/replica"
)

// Produce v3-v13 (Kafka 4's range: v3 is the first with RecordBatch v2,
// which librdkafka 2.0 needs to see to use it; v7 allows zstd; v8 adds
// record errors and an error message; v9 is flexible; v10 adds the
// current leader and its endpoints to NOT_LEADER_OR_FOLLOWER answers
// (KIP-951); v12 only changes transactions, which mk does not serve; v13
// names topics by id).
//
// Per partition, in Kafka's order (KafkaApis.handleProduceRequest, then
// ReplicaManager.appendRecords, Partition.appendRecordsToLeader,
// UnifiedLog.analyzeAndValidateRecords and LogValidator):
//
//   - a topic or partition the metadata does not have:
//     UNKNOWN_TOPIC_OR_PARTITION (v13: an unknown id, UNKNOWN_TOPIC_ID);
//   - the records' framing (ProduceRequest.validateRecords): no whole
//     batch, a batch of magic 0 or 1, or more than one batch is
//     INVALID_RECORD; a batch length below 14 or a magic above 2 is
//     CORRUPT_MESSAGE; zstd before v7 is UNSUPPORTED_COMPRESSION_TYPE.
//     Bytes after the first batch that are not a whole batch are
//     dropped, as Kafka trims them;
//   - acks other than 0, 1, -1: INVALID_REQUIRED_ACKS;
//   - this broker not the leader: NOT_LEADER_OR_FOLLOWER;
//   - acks=-1 and the ISR below min.insync.replicas: NOT_ENOUGH_REPLICAS;
//   - then the leader's validation (replica/validate.go): INVALID_RECORD,
//     MESSAGE_TOO_LARGE, CORRUPT_MESSAGE, INVALID_TIMESTAMP;
//   - an idempotent producer's batch, checked in the append under the
//     partition lock (logdir/producerstate.go): a retry of one of its
//     last five batches is answered with the original's offsets (and its
//     max timestamp as the log append time) and not appended again; a gap
//     or a new epoch not starting at sequence 0 is
//     OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH, a
//     transactional batch INVALID_TXN_STATE;
//   - acks=-1: REQUEST_TIMED_OUT when the in-sync replicas do not all
//     have the batch within the request's timeout,
//     NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
//     min.insync.replicas meanwhile, NOT_LEADER_OR_FOLLOWER when the
//     leadership moved.
//
// Every partition is appended before any acks=-1 wait starts, and the
// waits share the request's timeout; the connection handles the requests
// after an acks=-1 Produce while it waits, and answers them in order. acks=0 is answered with nothing; if
// any partition failed the connection is closed, as Kafka closes it, so
// that the client refreshes its metadata.
func init() { register(0, 3, 13, handleProduce) }

// produced is a partition appended with acks=-1, waiting for its ISR.
type produced struct {
	ti, pi int // where its answer is in the response
	part   *replica.Partition
	res    replica.ProduceResult
}

func handleProduce(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	s := r.c.s
	var waiting []produced
	failed := 0
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		// A copy: the answer may be written after the connection has read
		// its next request into the buffer the request was decoded from.
		st.Topic, st.TopicID = strings.Clone(rt.Topic), rt.TopicID
		name, topicErr := rt.Topic, error(nil)
		if r.version >= 13 {
			name, topicErr = s.topicNameByID(rt.TopicID)
		}
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			res, part, err := s.produceOne(r, name, topicErr, rp, req.Acks)
			if err != nil {
				failed++
				setProduceError(&sp, r.version, err)
			} else {
				sp.BaseOffset, sp.LogAppendTime = res.BaseOffset, res.LogAppendTime
				sp.LogStartOffset = res.LogStartOffset
				if req.Acks == -1 {
					waiting = append(waiting, produced{ti, pi, part, res})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		if failed > 0 {
			return nil, fmt.Errorf("acks=0 produce failed for %d partitions", failed)
		}
		return nil, nil
	}
	if len(waiting) == 0 {
		if r.version >= 10 {
			s.addCurrentLeaders(r, resp)
		}
		return resp, nil
	}
	// acks=all: answered once the in-sync replicas have the batches; the
	// connection handles its next requests meanwhile (later.go).
	deadline := time.Now().Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	return &deferredResponse{Response: resp, wait: func(ctx context.Context) error {
		for _, w := range waiting {
			if err := w.part.AwaitReplication(ctx, w.res, deadline); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				setProduceError(&resp.Topics[w.ti].Partitions[w.pi], r.version, err)
			}
		}
		if r.version >= 10 {
			s.addCurrentLeaders(r, resp)
		}
		return nil
	}}, nil
}

// produceOne appends one partition's records.
func (s *Server) produceOne(r *request, topic string, topicErr error, rp kmsg.ProduceRequestTopicPartition, acks int16) (replica.ProduceResult, *replica.Partition, error) {
	none := replica.ProduceResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	if topicErr != nil {
		return none, nil, topicErr
	}
	part, err := s.cfg.Replicas.Partition(topic, rp.Partition)
	if err != nil && !errors.Is(err, replica.ErrNotLeader) && !errors.Is(err, replica.ErrReplicaNotAvailable) {
		return none, nil, err // the metadata has no such partition
	}
	batch, ferr := firstBatch(rp.Records, r.version)
	if ferr != nil {
		return none, nil, ferr
	}
	switch acks {
	case 0, 1, -1:
	default:
		return none, nil, fmt.Errorf("%w: %d", replica.ErrInvalidRequiredAcks, acks)
	}
	if err != nil {
		return none, nil, err
	}
	res, err := part.Append(batch, acks)
	return res, part, err
}

// errUnsupportedCompression: zstd in a Produce request before v7.
var errUnsupportedCompression = errors.New("unsupported compression type")

// firstBatch returns the one record batch a Produce request (v3+) carries
// for a partition, as Kafka's ProduceRequest.validateRecords and its
// batch iterator find it. Bytes after it that are not a whole batch are
// left out, as Kafka's log trims them.
func firstBatch(records []byte, version int16) ([]byte, error) {
	batch, rest, err := nextBatch(records)
	if err != nil {
		return nil, err
	}
	if batch == nil {
		return nil, fmt.Errorf("%w: produce requests with version %d must have at least one record batch per partition", replica.ErrInvalidRecord, version)
	}
	if batch[16] != 2 {
		return nil, fmt.Errorf("%w: produce requests with version %d are only allowed to contain record batches with magic version 2", replica.ErrInvalidRecord, version)
	}
	if len(batch) >= 23 {
		codec := logdir.Codec(binary.BigEndian.Uint16(batch[21:]) & 0x07)
		if codec > logdir.CodecZstd {
			return nil, fmt.Errorf("%w: unknown compression codec %d", logdir.ErrCorrupt, codec)
		}
		if codec == logdir.CodecZstd && version < 7 {
			return nil, fmt.Errorf("%w: produce requests with version %d are not allowed to use ZStandard compression", errUnsupportedCompression, version)
		}
	}
	second, _, err := nextBatch(rest)
	if err != nil {
		return nil, err
	}
	if second != nil {
		return nil, fmt.Errorf("%w: produce requests with version %d are only allowed to contain exactly one record batch per partition", replica.ErrInvalidRecord, version)
	}
	return batch, nil
}

// nextBatch is Kafka's ByteBufferLogInputStream.nextBatch: the batch at
// the start of b, or nil when b does not hold a whole one. A length below
// the smallest record Kafka ever had (14 bytes) or a magic it does not
// know is corrupt.
func nextBatch(b []byte) (batch, rest []byte, err error) {
	const (
		logOverhead          = 12 // baseOffset and batchLength
		minRecordOverhead    = 14 // LegacyRecord.RECORD_OVERHEAD_V0
		headerSizeUpToMagic  = 17
		currentMagic         = 2
		magicOffset          = 16
		batchLengthFieldFrom = 8
	)
	if len(b) < logOverhead {
		return nil, nil, nil
	}
	n := int32(binary.BigEndian.Uint32(b[batchLengthFieldFrom:]))
	if n < minRecordOverhead {
		return nil, nil, fmt.Errorf("%w: record size %d is less than the minimum record overhead (%d)", logdir.ErrCorrupt, n, minRecordOverhead)
	}
	if len(b) < headerSizeUpToMagic {
		return nil, nil, nil
	}
	if m := int8(b[magicOffset]); m < 0 || m > currentMagic {
		return nil, nil, fmt.Errorf("%w: invalid magic found in record: %d", logdir.ErrCorrupt, m)
	}
	size := int64(n) + logOverhead
	if int64(len(b)) < size {
		return nil, nil, nil
	}
	return b[:size:size], b[size:], nil
}

// setProduceError fills a partition's answer for err.
func setProduceError(sp *kmsg.ProduceResponseTopicPartition, version int16, err error) {
	sp.ErrorCode = produceErrorCode(err)
	if version < 8 {
		return
	}
	msg := err.Error()
	sp.ErrorMessage = &msg
	var re *replica.RecordErrors
	if errors.As(err, &re) {
		for _, rec := range re.Records {
			er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
			er.RelativeOffset = rec.Index
			m := rec.Message
			er.ErrorMessage = &m
			sp.ErrorRecords = append(sp.ErrorRecords, er)
		}
	}
}

// produceErrorCode maps the produce path's errors to Kafka's codes; the
// rest are the server's common mapping.
func produceErrorCode(err error) int16 {
	switch {
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, replica.ErrRequestTimedOut):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, replica.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, replica.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, replica.ErrInvalidRequiredAcks):
		return kerr.InvalidRequiredAcks.Code
	case errors.Is(err, errUnsupportedCompression):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, errUnknownTopicID):
		return kerr.UnknownTopicID.Code
	case errors.Is(err, coord.ErrInvalidTopic):
		// Kafka answers a name its metadata does not have, valid or not,
		// as unknown.
		return kerr.UnknownTopicOrPartition.Code
	}
	return errorCode(err)
}

var errUnknownTopicID = errors.New("unknown topic id")

// topicNameByID finds a topic by the id a v13 request names it by.
func (s *Server) topicNameByID(id [16]byte) (string, error) {
	sid := topicIDString(id)
	if name, ok := s.cfg.Replicas.TopicNameByID(sid); ok {
		return name, nil
	}
	// The readable topics: another topic's damaged file does not hide
	// this one.
	topics, _, err := s.cfg.Cluster.ListTopics()
	if err != nil {
		return "", err
	}
	for _, t := range topics {
		if t.ID == sid {
			return t.Name, nil
		}
	}
	return "", fmt.Errorf("%w: %s", errUnknownTopicID, sid)
}

// addCurrentLeaders tells a client that was answered
// NOT_LEADER_OR_FOLLOWER which broker leads the partition now, at which
// epoch, and how to reach it (KIP-951, v10+), so that it can move there
// without a metadata request. Only live leaders are named.
func (s *Server) addCurrentLeaders(r *request, resp *kmsg.ProduceResponse) {
	var brokers []kmsg.MetadataResponseBroker
	named := map[int32]bool{}
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		var t *coord.Topic
		for pi := range rt.Partitions {
			sp := &rt.Partitions[pi]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			if t == nil {
				name := rt.Topic
				if r.version >= 13 {
					var err error
					if name, err = s.topicNameByID(rt.TopicID); err != nil {
						break
					}
				}
				var err error
				if t, err = s.cfg.Cluster.Topic(name); err != nil {
					break
				}
			}
			if int(sp.Partition) >= len(t.Partitions) {
				continue
			}
			p := t.Partitions[sp.Partition]
			if p.Leader == coord.NoLeader || p.Leader == s.cfg.BrokerID {
				continue
			}
			if brokers == nil {
				brokers, _ = s.liveBrokers(r.c.unix)
			}
			for _, b := range brokers {
				if b.NodeID != int32(p.Leader) {
					continue
				}
				sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = int32(p.Leader), int32(p.LeaderEpoch)
				if !named[b.NodeID] {
					named[b.NodeID] = true
					pb := kmsg.NewProduceResponseBroker()
					pb.NodeID, pb.Host, pb.Port, pb.Rack = b.NodeID, b.Host, b.Port, b.Rack
					resp.Brokers = append(resp.Brokers, pb)
				}
			}
		}
	}
}
