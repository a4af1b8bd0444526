package replica

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"mk/coord"
	"mk/logdir"
)

// The read side of the seam: what the protocol server's Fetch, ListOffsets,
// OffsetForLeaderEpoch and DeleteRecords ask of a broker's replicas, with
// Kafka's semantics (ReplicaManager, Partition, UnifiedLog and
// LeaderEpochFileCache in Kafka's source). Consumers read from leaders only
// and only below the high watermark; every read goes through the replica's
// pool of lock-free readers, which check each batch's CRC.

// ErrDeleteRecordsTimeout: a DeleteRecords whose replicas did not all move their log
// start before the request's timeout (Kafka's REQUEST_TIMED_OUT; the log
// start of the leader has moved).
var ErrDeleteRecordsTimeout = errors.New("request timed out")

// ErrOffsetNotAvailable: the leader's high watermark has not yet reached
// the start of its leader epoch, so the latest offset is not known yet
// (Kafka's OFFSET_NOT_AVAILABLE, retriable).
var ErrOffsetNotAvailable = errors.New("offset not available")

// ReadState is the partition's offsets as one read saw them.
type ReadState struct {
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	LeaderEpoch    int32
}

func readStateOf(st logdir.State) ReadState {
	return ReadState{st.HighWatermark, st.LogStartOffset, st.LogEndOffset, st.LeaderEpoch}
}

// leaderRole is the applied role if this broker leads the partition and
// the client's current leader epoch (-1: none) matches it.
func (p *Partition) leaderRole(clientEpoch int32) (*Role, error) {
	return p.checkedRole(clientEpoch, true)
}

// checkedRole is the applied role after Kafka's Partition.getLocalLog
// checks: the client's current leader epoch first (older is
// ErrFencedLeaderEpoch, newer ErrUnknownLeaderEpoch), then leadership when
// required.
func (p *Partition) checkedRole(clientEpoch int32, requireLeader bool) (*Role, error) {
	role := p.Role()
	if role == nil {
		return nil, p.gone(ErrReplicaNotAvailable)
	}
	switch {
	case clientEpoch >= 0 && clientEpoch < role.LeaderEpoch:
		return nil, ErrFencedLeaderEpoch
	case clientEpoch > role.LeaderEpoch:
		return nil, ErrUnknownLeaderEpoch
	case requireLeader && !role.IsLeader:
		return nil, ErrNotLeader
	}
	return role, nil
}

// gone is the error for a replica that was closed, or whose files went
// away, under a request: its topic was deleted (or deleted and created
// again) is ErrUnknownTopicOrPartition; otherwise err.
func (p *Partition) gone(err error) error {
	t, terr := p.m.c.Topic(p.r.topic)
	if errors.Is(terr, coord.ErrUnknownTopic) || terr == nil && t.ID != p.r.topicID {
		return ErrUnknownTopicOrPartition
	}
	return err
}

// Read appends to dst the committed batches holding offset and the ones
// after it, up to about maxBytes but at least one whole batch whatever its
// size (KIP-74); the first batch may begin before offset. It never returns
// a byte at or above the high watermark, nor a batch that fails its CRC
// (logdir.Reader). It is a consumer's read, served by the leader only: the
// replica's state on disk, read with the batches, must still say leader at
// the applied epoch (a replica the controller fenced before this broker
// applied the change does not serve). clientEpoch is the client's current
// leader epoch (-1: none): older is ErrFencedLeaderEpoch, newer
// ErrUnknownLeaderEpoch. Below the log start or past the log end is
// logdir.ErrOffsetOutOfRange; between the high watermark and the log end
// nothing is returned.
func (p *Partition) Read(dst []byte, offset int64, maxBytes int, clientEpoch int32) ([]byte, ReadState, error) {
	role, err := p.leaderRole(clientEpoch)
	if err != nil {
		return dst, ReadState{}, err
	}
	rd, err := p.r.readers.get()
	if err != nil {
		return dst, ReadState{}, p.gone(err)
	}
	start := len(dst)
	dst, st, err := rd.ReadCommitted(dst, offset, maxBytes)
	if errors.Is(err, logdir.ErrCorrupt) {
		// Serve the good batches before the damaged one, one at a time,
		// so that a consumer gets as far as the damage and is told there.
		dst, st, err = readUntilCorrupt(rd, dst[:start], offset, maxBytes)
	}
	p.r.readers.put(rd)
	switch {
	case err != nil && !errors.Is(err, logdir.ErrOffsetOutOfRange):
		return dst[:start], ReadState{}, p.gone(err)
	case !st.Leader || st.LeaderEpoch != role.LeaderEpoch:
		return dst[:start], ReadState{}, ErrNotLeader
	case err != nil:
		return dst[:start], readStateOf(st), err
	}
	return dst, readStateOf(st), nil
}

// Offsets is the replica's state for a leader's answer (ListOffsets,
// DeleteRecords): it fails as Read does when this broker does not lead.
func (p *Partition) Offsets(clientEpoch int32) (ReadState, error) {
	role, err := p.leaderRole(clientEpoch)
	if err != nil {
		return ReadState{}, err
	}
	st, err := p.r.log.State()
	if err != nil {
		return ReadState{}, p.gone(err)
	}
	if !st.Leader || st.LeaderEpoch != role.LeaderEpoch {
		return ReadState{}, ErrNotLeader
	}
	return readStateOf(st), nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the leader (Kafka's
// Partition.lastOffsetForLeaderEpoch with fetchOnlyFromLeader, and
// LeaderEpochFileCache.endOffsetFor): the largest epoch at or below epoch
// that this log knows and the offset where it ended, which is the start of
// the next epoch, or the log end offset for the latest epoch. An epoch
// older than every epoch the log still knows (retention and DeleteRecords
// forget epochs) ends where the first known one starts. ok is false when
// the log knows no epoch to answer with (Kafka answers -1 and -1).
func (p *Partition) EndOffsetForEpoch(epoch, clientEpoch int32) (foundEpoch int32, endOffset int64, ok bool, err error) {
	if _, err := p.Offsets(clientEpoch); err != nil {
		return -1, -1, false, err
	}
	st, err := p.r.log.State()
	if err != nil {
		return -1, -1, false, p.gone(err)
	}
	es, err := logdir.ReadLeaderEpochs(p.r.dir)
	if err != nil {
		return -1, -1, false, p.gone(err)
	}
	foundEpoch, endOffset = endOffsetFor(es, st.LogEndOffset, epoch)
	return foundEpoch, endOffset, endOffset >= 0, nil
}

// endOffsetFor is LeaderEpochFileCache.endOffsetFor over the entries es,
// ascending by epoch.
func endOffsetFor(es []logdir.EpochEntry, logEnd int64, epoch int32) (int32, int64) {
	if epoch < 0 || len(es) == 0 {
		return -1, -1
	}
	if es[len(es)-1].Epoch == epoch {
		return epoch, logEnd
	}
	floor, higher := -1, -1
	for i, e := range es {
		if e.Epoch <= epoch {
			floor = i
		} else if higher < 0 {
			higher = i
		}
	}
	switch {
	case higher < 0:
		return -1, -1 // newer than every epoch known
	case floor < 0:
		return epoch, es[higher].StartOffset
	}
	return es[floor].Epoch, es[higher].StartOffset
}

// ListOffsets' special timestamps (Kafka's ListOffsetsRequest).
const (
	LatestTimestamp         = -1
	EarliestTimestamp       = -2
	MaxTimestamp            = -3 // KIP-734
	EarliestLocalTimestamp  = -4 // KIP-405: the local log start, which is the log start: mk has no remote tier
	LatestTieredTimestamp   = -5 // KIP-1005: no remote tier, so none
	noTimestamp             = -1
	noLeaderEpoch           = -1
	unknownOffsetForListing = -1
)

// ListOffset answers ListOffsets for one partition (Kafka's
// Partition.fetchOffsetForTimestamp and UnifiedLog.fetchOffsetByTimestamp).
// replicaID is the requester's: a consumer (-1) is answered by the leader
// only, below the high watermark (both isolation levels: mk has no
// transactions, so the last stable offset is the high watermark), with
// Kafka's OFFSET_NOT_AVAILABLE check; a debugging client (-2) by any
// replica, below its log end; a broker by the leader, below its log end.
// found is false where Kafka answers offset -1 and timestamp -1 without an
// error.
func (p *Partition) ListOffset(ts int64, clientEpoch, replicaID int32) (found logdir.TimestampOffset, ok bool, err error) {
	consumer := replicaID == -1
	role, err := p.checkedRole(clientEpoch, replicaID != -2)
	if err != nil {
		return found, false, err
	}
	rd, err := p.r.readers.get()
	if err != nil {
		return found, false, p.gone(err)
	}
	defer p.r.readers.put(rd)
	st, err := rd.State()
	if err != nil {
		return found, false, p.gone(err)
	}
	if role.IsLeader && (!st.Leader || st.LeaderEpoch != role.LeaderEpoch) {
		return found, false, ErrNotLeader
	}
	bound := st.LogEndOffset
	if consumer {
		bound = st.HighWatermark
	}
	// A new leader whose high watermark has not reached the start of its
	// epoch does not know yet which offsets are committed.
	var notAvailable error
	if consumer {
		es, err := logdir.ReadLeaderEpochs(p.r.dir)
		if err != nil {
			return found, false, p.gone(err)
		}
		if n := len(es); n > 0 && es[n-1].Epoch == role.LeaderEpoch && es[n-1].StartOffset > st.HighWatermark {
			notAvailable = fmt.Errorf("%w: the high watermark %d is below the start %d of leader epoch %d", ErrOffsetNotAvailable, st.HighWatermark, es[n-1].StartOffset, role.LeaderEpoch)
		}
	}
	switch ts {
	case LatestTimestamp:
		if notAvailable != nil {
			return found, false, notAvailable
		}
		return logdir.TimestampOffset{Offset: bound, Timestamp: noTimestamp, LeaderEpoch: role.LeaderEpoch}, true, nil
	case EarliestTimestamp, EarliestLocalTimestamp:
		es, err := logdir.ReadLeaderEpochs(p.r.dir)
		if err != nil {
			return found, false, p.gone(err)
		}
		epoch := int32(noLeaderEpoch)
		if len(es) > 0 && es[0].StartOffset <= st.LogStartOffset {
			epoch = es[0].Epoch
		}
		return logdir.TimestampOffset{Offset: st.LogStartOffset, Timestamp: noTimestamp, LeaderEpoch: epoch}, true, nil
	case LatestTieredTimestamp:
		return logdir.TimestampOffset{Offset: unknownOffsetForListing, Timestamp: noTimestamp, LeaderEpoch: noLeaderEpoch}, true, nil
	case MaxTimestamp:
		found, ok, err = rd.FindMaxTimestamp()
	default:
		found, ok, err = rd.FindTimestamp(ts)
	}
	if err != nil {
		return found, false, p.gone(err)
	}
	if !ok || found.Offset >= bound {
		// Kafka looks beyond the bound, finds nothing it may tell, and
		// answers -1, or OFFSET_NOT_AVAILABLE when the bound is lagging.
		return logdir.TimestampOffset{}, false, notAvailable
	}
	return found, true, nil
}

// DeleteRecords is Kafka's DeleteRecords on the leader
// (Partition.deleteRecordsOnLeader, then DelayedDeleteRecords): it moves
// the log start offset up to offset (-1: the high watermark), then waits
// until every replica on a live broker has followed (followers follow
// their leader's log start), and returns the low watermark: the smallest
// log start among the leader and those replicas. An offset past the high
// watermark, or negative, is logdir.ErrOffsetOutOfRange; when ctx ends
// first (the request's timeout) the error is ErrDeleteRecordsTimeout with the low
// watermark reached so far.
func (p *Partition) DeleteRecords(ctx context.Context, offset int64) (int64, error) {
	role, err := p.leaderRole(-1)
	if err != nil {
		return -1, err
	}
	if offset == -1 {
		st, err := p.Offsets(-1)
		if err != nil {
			return -1, err
		}
		offset = st.HighWatermark
	}
	if offset < 0 {
		return -1, fmt.Errorf("%w: offset %d", logdir.ErrOffsetOutOfRange, offset)
	}
	if _, err := p.r.log.AdvanceLogStart(offset, role.LeaderEpoch); err != nil {
		if errors.Is(err, logdir.ErrNotLeader) || errors.Is(err, logdir.ErrFenced) {
			return -1, ErrNotLeader
		}
		if errors.Is(err, logdir.ErrOffsetOutOfRange) {
			return -1, err
		}
		return -1, p.gone(err)
	}
	p.r.changed.notify()

	var paths []string
	for _, b := range role.Replicas {
		if b != p.m.id {
			paths = append(paths, filepath.Join(p.m.c.PartitionDir(b, role.Topic, int(role.Partition)), "state"))
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := coord.Watch(wctx, paths, p.m.opts.Backstop)
	readers := map[int]*logdir.Reader{}
	defer func() {
		for _, rd := range readers {
			rd.Close()
		}
	}()
	for {
		low, err := p.lowWatermark(role, readers)
		if err != nil || low >= offset {
			return low, err
		}
		select {
		case <-ctx.Done():
			return low, ErrDeleteRecordsTimeout
		case <-wake:
		}
	}
}

// lowWatermark is Kafka's Partition.lowWatermarkIfLeader: the leader's log
// start, lowered by the log start of each replica on a live broker.
func (p *Partition) lowWatermark(role *Role, readers map[int]*logdir.Reader) (int64, error) {
	st, err := p.Offsets(-1)
	if err != nil {
		return -1, err
	}
	low := st.LogStartOffset
	for _, b := range role.Replicas {
		if b == p.m.id || !p.m.c.BrokerAlive(b) {
			continue
		}
		rd := readers[b]
		if rd == nil {
			if rd, err = logdir.OpenReader(p.m.c.PartitionDir(b, role.Topic, int(role.Partition))); err != nil {
				continue // no replica there yet: it will start at the leader's log start
			}
			readers[b] = rd
		}
		fst, err := rd.State()
		if err != nil {
			continue
		}
		low = min(low, fst.LogStartOffset)
	}
	return low, nil
}

// TopicByID returns the name of the topic whose id is id (as coord writes
// it): Fetch v13+ names topics by id. The replicas this broker holds are
// looked at first, then the metadata.
func (m *Manager) TopicByID(id string) (string, bool) {
	m.mu.Lock()
	for _, r := range m.reps {
		if r.topicID == id {
			m.mu.Unlock()
			return r.topic, true
		}
	}
	m.mu.Unlock()
	topics, err := m.c.Topics()
	if err != nil {
		return "", false
	}
	for _, t := range topics {
		if t.ID == id {
			return t.Name, true
		}
	}
	return "", false
}

// readUntilCorrupt reads batch by batch from offset until maxBytes or a
// batch that fails its check: the batches before it are returned without
// an error; if the first one fails, the error is returned.
func readUntilCorrupt(rd *logdir.Reader, dst []byte, offset int64, maxBytes int) ([]byte, logdir.State, error) {
	start := len(dst)
	for {
		n := len(dst)
		var st logdir.State
		var err error
		dst, st, err = rd.ReadCommitted(dst, offset, 1)
		switch {
		case err != nil && n == start:
			return dst[:start], st, err
		case err != nil:
			return dst[:n], st, nil
		case len(dst) == n || len(dst)-start >= maxBytes:
			return dst, st, nil
		}
		offset = logdir.BatchLastOffset(dst[n:]) + 1
	}
}
