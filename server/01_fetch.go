package server

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/logdir"
	"mk/replica"
)

// Fetch v4-v18, as Kafka's KafkaApis.handleFetchRequest and
// ReplicaManager.fetchMessages answer a consumer:
//
//   - v4 is the first version librdkafka needs for RecordBatch v2; v13+
//     name topics by id (UNKNOWN_TOPIC_ID for an id no topic has); v16+
//     give the current leader and its address with NOT_LEADER_OR_FOLLOWER
//     and FENCED_LEADER_EPOCH (KIP-951).
//   - Partitions are read in request order, each up to its partition max
//     bytes and all up to the response's max bytes (at most Kafka's
//     fetch.max.bytes, 55 MiB), except that the first partition with data
//     returns at least one whole batch however large (KIP-74). Only whole
//     batches are returned, all below the high watermark, each checked
//     against its CRC when read.
//   - read_committed reads the same bytes as read_uncommitted: mk has no
//     transactions, so the last stable offset is the high watermark and no
//     transaction is ever aborted, as Kafka answers a log without them.
//   - The answer is immediate when the request does not wait, any
//     partition has an error or a diverging epoch, or min bytes are there;
//     otherwise the request waits up to max wait, woken by any of its
//     partitions' changes (the replica seam's Changed), and reads again.
//     A client that disconnects, or the broker stopping, ends the wait.
//   - Fetch sessions (KIP-227) are declined as Kafka declines them when its
//     session cache is full: every response has session id 0 and answers
//     the whole request; an incremental request (session epoch > 0) is
//     FETCH_SESSION_ID_NOT_FOUND, since mk never gave out a session.
//   - A non-leader answers NOT_LEADER_OR_FOLLOWER: consumers fetch from
//     leaders. A fetch from a broker (replica id >= 0) is answered
//     NOT_LEADER_OR_FOLLOWER for every partition: mk's followers copy
//     their leaders' files, not over the protocol.
func init() { register(1, 4, 18, handleFetch) }

// fetchMaxBytes is Kafka's broker config fetch.max.bytes (KIP-541): no
// Fetch response carries more record bytes, whatever the client asks.
const fetchMaxBytes = 55 << 20

// fetchPart is one partition of a Fetch request and its last read.
type fetchPart struct {
	topic            string
	topicID          [16]byte
	partition        int32
	offset           int64
	maxBytes         int32
	currentEpoch     int32
	lastFetchedEpoch int32

	p    *replica.Partition // nil when resolving failed: code says why
	code int16

	// The last read: batches at buf[start:end] of the fetch's buffer.
	start, end int
	state      replica.ReadState
	diverging  *kmsg.FetchResponseTopicPartitionDivergingEpoch
}

type fetch struct {
	s        *Server
	r        *request
	req      *kmsg.FetchRequest
	parts    []fetchPart
	buf      *[]byte
	maxBytes int
}

// Test hooks, nil outside tests: a fetch starts waiting; a fetch handler
// returns.
var testHookFetchWaiting, testHookFetchDone func()

func handleFetch(r *request) (kmsg.Response, error) {
	if testHookFetchDone != nil {
		defer testHookFetchDone()
	}
	req := r.kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if r.version >= 7 && req.SessionEpoch > 0 {
		// An incremental fetch names a session; mk keeps none.
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	f := &fetch{s: r.c.s, r: r, req: req, maxBytes: int(min(req.MaxBytes, fetchMaxBytes))}
	f.resolve()
	f.buf = getReadBuffer()

	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	minBytes := min(int(req.MinBytes), f.maxBytes)
	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	var timer *time.Timer
	var stopWatch func()
	chans := make([]<-chan struct{}, 0, len(f.parts))
	for {
		// The change signals are taken before the read, so a change that
		// lands after the read wakes the wait below.
		chans = chans[:0]
		for i := range f.parts {
			if p := f.parts[i].p; p != nil {
				chans = append(chans, p.Changed())
			}
		}
		n, done := f.read()
		if done || n >= minBytes || wait <= 0 || len(chans) == 0 || ctx.Err() != nil {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
			stopWatch = r.c.watchClosed(cancel)
			if testHookFetchWaiting != nil {
				testHookFetchWaiting()
			}
		}
		if !waitAny(ctx, chans, timer.C) {
			break
		}
	}
	if stopWatch != nil {
		stopWatch()
	}
	f.respond(resp)
	return &fetchResponse{FetchResponse: resp, buf: f.buf}, nil
}

// resolve finds the replica of every partition of the request, in order.
// A partition named twice is fetched once, where it was first named, with
// what it was last named with (Kafka reads the request into a
// LinkedHashMap).
func (f *fetch) resolve() {
	req, version := f.req, f.r.version
	replicaID := req.ReplicaID
	if version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	type key struct {
		topic     string
		id        [16]byte
		partition int32
	}
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	f.parts = make([]fetchPart, 0, n)
	var seen map[key]int
	if n > 1 {
		seen = make(map[key]int, n)
	}
	names := map[[16]byte]string{} // topic ids resolved in this request
	for _, rt := range req.Topics {
		name := rt.Topic
		var idErr bool
		if version >= 13 {
			n, ok := names[rt.TopicID]
			if !ok {
				n, ok = f.s.cfg.Replicas.TopicByID(topicIDString(rt.TopicID))
				if !ok {
					n = ""
				}
				names[rt.TopicID] = n
			}
			name, idErr = n, n == ""
		}
		for _, rp := range rt.Partitions {
			fp := fetchPart{
				topic: name, topicID: rt.TopicID, partition: rp.Partition, offset: rp.FetchOffset,
				maxBytes: max(rp.PartitionMaxBytes, 0), currentEpoch: rp.CurrentLeaderEpoch, lastFetchedEpoch: rp.LastFetchedEpoch,
			}
			if version < 12 {
				fp.lastFetchedEpoch = -1
			}
			switch {
			case idErr:
				fp.code = kerr.UnknownTopicID.Code
			case replicaID >= 0:
				fp.code = kerr.NotLeaderForPartition.Code
			default:
				var err error
				fp.p, err = f.s.cfg.Replicas.Partition(name, rp.Partition)
				switch {
				case err != nil:
					fp.p, fp.code = nil, errorCode(err)
				case version >= 13:
					if role := fp.p.Role(); role != nil && topicID(role.TopicID) != rt.TopicID {
						fp.p, fp.code = nil, kerr.InconsistentTopicID.Code
					}
				}
			}
			if seen != nil {
				k := key{name, rt.TopicID, rp.Partition}
				if i, dup := seen[k]; dup {
					f.parts[i] = fp
					continue
				}
				seen[k] = len(f.parts)
			}
			f.parts = append(f.parts, fp)
		}
	}
}

// read reads every partition, in order, as ReplicaManager.readFromLog
// does, into the fetch's buffer. It returns the bytes read and whether the
// answer is due now whatever min bytes says: a partition has an error or a
// diverging epoch.
func (f *fetch) read() (int, bool) {
	buf := (*f.buf)[:0]
	limit := f.maxBytes
	minOne := true // until a partition returns a batch (KIP-74)
	total, done := 0, false
	for i := range f.parts {
		fp := &f.parts[i]
		fp.start, fp.end, fp.diverging = len(buf), len(buf), nil
		if fp.p == nil {
			done = true
			continue
		}
		fp.code = 0
		if fp.lastFetchedEpoch >= 0 {
			if fp.checkDiverging() {
				done = true
				continue
			}
		}
		want := min(int(fp.maxBytes), limit)
		if minOne {
			want = max(want, 1)
		}
		var st replica.ReadState
		var err error
		buf, st, err = fp.p.Read(buf, fp.offset, want, fp.currentEpoch)
		if err != nil {
			buf = buf[:fp.start]
			fp.code = errorCode(err)
			if fp.code == kerr.CorruptMessage.Code || fp.code == kerr.UnknownServerError.Code {
				f.s.cfg.Logf("fetch %s-%d at offset %d: %v", fp.topic, fp.partition, fp.offset, err)
			}
			done = true
			continue
		}
		fp.state = st
		buf = buf[:fp.start+wholeBatchesWithin(buf[fp.start:], want, minOne)]
		fp.end = len(buf)
		n := fp.end - fp.start
		if n > 0 {
			minOne = false
		}
		limit = max(0, limit-n)
		total += n
	}
	*f.buf = buf
	return total, done
}

// checkDiverging is Kafka's check of a fetch's last fetched epoch (v12+,
// Partition.readRecords): when the log's end offset for that epoch is
// before the fetch offset, or the log knows only an older epoch, the
// answer is the diverging epoch instead of records. It reports whether
// the partition's answer is set (an error or a diverging epoch).
func (fp *fetchPart) checkDiverging() bool {
	epoch, end, ok, err := fp.p.EndOffsetForEpoch(fp.lastFetchedEpoch, fp.currentEpoch)
	if err == nil && !ok {
		err = logdir.ErrOffsetOutOfRange
	}
	var st replica.ReadState
	if err == nil {
		st, err = fp.p.Offsets(fp.currentEpoch)
	}
	if err == nil && fp.offset < st.LogStartOffset {
		err = logdir.ErrOffsetOutOfRange
	}
	if err != nil {
		fp.code = errorCode(err)
		return true
	}
	if epoch < fp.lastFetchedEpoch || end < fp.offset {
		fp.state = st
		fp.diverging = &kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: epoch, EndOffset: end}
		return true
	}
	return false
}

// wholeBatchesWithin is how many bytes of batches (whole batches, as a
// Reader returns them) fit in limit; with minOne the first batch counts
// whatever its size.
func wholeBatchesWithin(batches []byte, limit int, minOne bool) int {
	n := 0
	for n < len(batches) {
		b, _, err := logdir.NextBatch(batches[n:])
		if err != nil || n+len(b) > limit && !(minOne && n == 0) {
			break
		}
		n += len(b)
	}
	return n
}

// waitAny waits until one of chans is closed (true), or ctx ends or the
// timer fires (false). One select over all the request's partitions: no
// goroutine per partition, nothing polled.
func waitAny(ctx context.Context, chans []<-chan struct{}, timer <-chan time.Time) bool {
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-ctx.Done():
		case <-timer:
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer)})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// respond fills resp from the last read. Partitions are answered in
// request order, one topic entry per run of partitions of a topic.
func (f *fetch) respond(resp *kmsg.FetchResponse) {
	buf := *f.buf
	version := f.r.version
	var leaders map[int32]bool // broker endpoints added for KIP-951
	for i := range f.parts {
		fp := &f.parts[i]
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != fp.topic || resp.Topics[n-1].TopicID != fp.topicID {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = fp.topic, fp.topicID
			resp.Topics = append(resp.Topics, rt)
		}
		rt := &resp.Topics[len(resp.Topics)-1]
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = fp.partition
		rp.ErrorCode = fp.code
		rp.HighWatermark = -1
		rp.PreferredReadReplica = -1 // no follower fetching (KIP-392)
		// Librdkafka takes null records for a bad message set size:
		// empty, never null, as Kafka sends.
		rp.RecordBatches = noRecords
		if fp.code == 0 {
			rp.HighWatermark = fp.state.HighWatermark
			rp.LastStableOffset = fp.state.HighWatermark
			rp.LogStartOffset = fp.state.LogStartOffset
			if fp.end > fp.start {
				rp.RecordBatches = buf[fp.start:fp.end:fp.end]
			}
			if fp.diverging != nil {
				rp.DivergingEpoch = *fp.diverging
			}
			if f.req.IsolationLevel == 1 {
				// Kafka lists the aborted transactions the records
				// overlap for read_committed (none here), and sends
				// null for read_uncommitted.
				rp.AbortedTransactions = noAbortedTransactions
			}
		}
		if version >= 16 && (fp.code == kerr.NotLeaderForPartition.Code || fp.code == kerr.FencedLeaderEpoch.Code) {
			if leaders == nil {
				leaders = map[int32]bool{}
			}
			f.s.currentLeader(fp.topic, fp.partition, f.r.c.unix, &rp.CurrentLeader, resp, leaders)
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
}

var (
	noRecords             = []byte{}
	noAbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
)

// currentLeader fills the current leader of a partition from the metadata
// (KIP-951), and adds the leader's endpoint to the response's brokers once.
func (s *Server) currentLeader(topic string, partition int32, unixSocket bool, cl *kmsg.FetchResponseTopicPartitionCurrentLeader, resp *kmsg.FetchResponse, added map[int32]bool) {
	t, err := s.cfg.Cluster.Topic(topic)
	if err != nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return
	}
	p := t.Partitions[partition]
	cl.LeaderID, cl.LeaderEpoch = int32(p.Leader), int32(p.LeaderEpoch)
	brokers, _ := s.cfg.Cluster.Brokers()
	for _, b := range brokers {
		if b.ID != p.Leader || !b.Alive || added[int32(b.ID)] {
			continue
		}
		if host, port, ok := s.brokerAddress(b, unixSocket); ok {
			added[int32(b.ID)] = true
			rb := kmsg.NewFetchResponseBroker()
			rb.NodeID, rb.Host, rb.Port = int32(b.ID), host, port
			resp.Brokers = append(resp.Brokers, rb)
		}
	}
}
