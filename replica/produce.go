package replica

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mk/coord"
	"mk/logdir"
)

// The produce path of the seam: a leader validates a batch a client sent
// (validate.go), appends it under the replica's lock at the leader epoch
// its role was given (logdir patches baseOffset and partitionLeaderEpoch,
// both outside the CRC: the batch is stored as it came, compressed or
// not), and for acks=all waits until the high watermark passes it. This is
// the only place where a replica is appended to for a client: brokers are
// the only writers of their replicas (design decision 4).

// Errors of the produce path, beyond the seam's and the validator's.
var (
	// ErrNotEnoughReplicas: acks=all and the ISR is smaller than
	// min.insync.replicas; nothing was appended (retriable).
	ErrNotEnoughReplicas = errors.New("not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: the batch was appended and
	// committed, but the ISR shrank below min.insync.replicas meanwhile
	// (retriable; a retry may store the batch twice).
	ErrNotEnoughReplicasAfterAppend = errors.New("not enough in-sync replicas after append")
	// ErrRequestTimedOut: acks=all and the in-sync replicas did not all
	// have the batch within the request's timeout. It was appended and
	// may still be committed (retriable; a retry may store it twice).
	ErrRequestTimedOut = errors.New("request timed out waiting for the in-sync replicas")
	// ErrInvalidRequiredAcks: acks is not 0, 1 or -1.
	ErrInvalidRequiredAcks = errors.New("invalid required acks")
)

// TopicNameByID returns the name of the topic with id (mk's base64 form)
// among the topics this broker holds replicas of.
func (m *Manager) TopicNameByID(id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.reps {
		if r.topicID == id {
			return r.topic, true
		}
	}
	return "", false
}

// ProduceResult says where a produced batch landed.
type ProduceResult struct {
	BaseOffset int64 // offset of its first record
	LastOffset int64 // offset of its last record
	// LogAppendTime is the time the leader stamped on the batch when the
	// topic's message.timestamp.type is LogAppendTime, else -1.
	LogAppendTime  int64
	LogStartOffset int64

	epoch  int32 // the leader epoch it was appended at
	minISR int   // min.insync.replicas in effect when it was appended
}

// Append validates one produced batch (exactly one whole RecordBatch, as a
// Produce request carries per partition) and appends it, if this broker
// leads the partition. acks is the request's: for -1 (all) the append is
// refused while the ISR is smaller than min.insync.replicas; call
// AwaitReplication afterwards for the acknowledgement. The batch's header
// is patched in place.
func (p *Partition) Append(batch []byte, acks int16) (ProduceResult, error) {
	res := ProduceResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	switch acks {
	case 0, 1, -1:
	default:
		return res, fmt.Errorf("%w: %d (use 0, 1 or -1)", ErrInvalidRequiredAcks, acks)
	}
	role := p.Role()
	if role == nil {
		return res, p.closedErr()
	}
	if !role.IsLeader {
		return res, fmt.Errorf("%w: broker %d is not the leader of %s-%d (leader %d at epoch %d)", ErrNotLeader, p.m.id, role.Topic, role.Partition, role.Leader, role.LeaderEpoch)
	}
	t := role.TopicMeta
	// Kafka's effective min ISR: a min.insync.replicas above the
	// replication factor asks for every replica.
	res.minISR = int(min(t.Int64Config(coord.ConfigMinInsyncReplicas), int64(len(role.Replicas))))
	if acks == -1 && len(role.ISR) < res.minISR {
		return res, fmt.Errorf("%w: %s-%d has %d in-sync replicas %v, min.insync.replicas is %d", ErrNotEnoughReplicas, role.Topic, role.Partition, len(role.ISR), role.ISR, res.minISR)
	}
	// The topic deleted: its files may be unlinked already, and a batch
	// appended to them would be acknowledged into nothing. The broker
	// closes the replica when it sees the topic gone; this covers the
	// moment before.
	if p.topicDeleted() {
		return res, fmt.Errorf("%w: topic %s was deleted", ErrUnknownTopicOrPartition, role.Topic)
	}
	rules := batchRules{
		maxMessageBytes: t.Int64Config(coord.ConfigMaxMessageBytes),
		logAppendTime:   t.ConfigValue(coord.ConfigMessageTimestampType) == coord.TimestampTypeLogAppendTime,
		beforeMaxMs:     t.Int64Config(coord.ConfigMessageTimestampBeforeMaxMs),
		afterMaxMs:      t.Int64Config(coord.ConfigMessageTimestampAfterMaxMs),
		now:             time.Now().UnixMilli(),
	}
	lat, err := validateProduced(batch, rules)
	if err != nil {
		return res, err
	}
	ar, err := p.r.log.Append(role.LeaderEpoch, batch)
	if err != nil {
		if errors.Is(err, logdir.ErrFenced) || errors.Is(err, logdir.ErrNotLeader) {
			// The controller fenced this replica (a new leader was
			// elected while this broker was stopped, say) before this
			// broker saw the new metadata.
			return res, fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return res, err
	}
	if ar.Duplicate {
		// A retry of one of its idempotent producer's last five
		// batches: nothing was appended, and the answer is the
		// original's offsets, with its max timestamp as the log append
		// time, as Kafka's UnifiedLog answers a duplicate (for a
		// CreateTime topic too). acks=all waits for the original.
		lat = ar.Timestamp
	} else {
		p.r.changed.notify()
	}
	// A zombie acknowledges nothing (zombie.go).
	if err := p.m.checkLease(p.r, role.LeaderEpoch); err != nil {
		return ProduceResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: -1}, err
	}
	res.BaseOffset, res.LastOffset, res.LogAppendTime = ar.BaseOffset, ar.LastOffset, lat
	res.epoch = role.LeaderEpoch
	res.LogStartOffset = ar.LogStartOffset
	return res, nil
}

// AwaitReplication waits until the high watermark passes an appended
// batch (acks=all), as Kafka's DelayedProduce does: it fails with
// ErrNotLeader when this broker stops leading the partition at the epoch
// the batch was appended at (the batch may be truncated away), with
// ErrRequestTimedOut at the deadline, and with
// ErrNotEnoughReplicasAfterAppend when the batch was committed by an ISR
// smaller than min.insync.replicas. It is woken by the partition's
// changes, never by polling.
func (p *Partition) AwaitReplication(ctx context.Context, res ProduceResult, deadline time.Time) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		changed := p.Changed() // before the read, so no change is missed
		if p.Role() == nil {
			return p.closedErr()
		}
		st, err := p.r.log.State()
		if err != nil {
			if p.Role() == nil {
				return p.closedErr() // closed while reading
			}
			return err
		}
		// The state file says leader at the epoch the batch was appended
		// at: then nobody truncated it, and the high watermark in it was
		// moved by this leader from followers at the same epoch.
		if !st.Leader || st.LeaderEpoch != res.epoch {
			return fmt.Errorf("%w: leadership of the partition moved (now epoch %d) before offsets %d..%d were replicated", ErrNotLeader, st.LeaderEpoch, res.BaseOffset, res.LastOffset)
		}
		if st.HighWatermark > res.LastOffset {
			if role := p.Role(); role != nil && len(role.ISR) < res.minISR {
				return fmt.Errorf("%w: offsets %d..%d are committed by %d in-sync replicas, min.insync.replicas is %d", ErrNotEnoughReplicasAfterAppend, res.BaseOffset, res.LastOffset, len(role.ISR), res.minISR)
			}
			return p.m.checkLease(p.r, res.epoch) // a zombie acknowledges nothing (zombie.go)
		}
		if role := p.Role(); role == nil {
			return p.closedErr()
		} else if !role.IsLeader || role.LeaderEpoch != res.epoch {
			return fmt.Errorf("%w: leadership of the partition moved before offsets %d..%d were replicated", ErrNotLeader, res.BaseOffset, res.LastOffset)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("%w: offsets %d..%d not replicated to every in-sync replica in time", ErrRequestTimedOut, res.BaseOffset, res.LastOffset)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("%w: offsets %d..%d not replicated to every in-sync replica in time", ErrRequestTimedOut, res.BaseOffset, res.LastOffset)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// topicDeleted reports whether the partition's topic file is gone.
func (p *Partition) topicDeleted() bool {
	_, err := os.Stat(filepath.Join(p.m.c.TopicsMetaDir(), p.r.topic+".json"))
	return errors.Is(err, os.ErrNotExist)
}

// closedErr is why a closed replica takes nothing: its topic was deleted
// (UNKNOWN_TOPIC_OR_PARTITION), or the broker gave it up (stopping, or
// the replica moved: NOT_LEADER_OR_FOLLOWER).
func (p *Partition) closedErr() error {
	if p.topicDeleted() {
		return fmt.Errorf("%w: topic %s was deleted", ErrUnknownTopicOrPartition, p.r.topic)
	}
	return fmt.Errorf("%w: replica %s-%d closed", ErrNotLeader, p.r.topic, p.r.partition)
}
