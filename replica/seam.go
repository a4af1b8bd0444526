package replica

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"mk/coord"
	"mk/logdir"
)

// The seam: the one way into a broker's replicas for the protocol server
// (package server). It finds a partition's local replica and the role the
// metadata gave it, appends already-encoded batches to a leader (fenced by
// its epoch), reads committed bytes, and wakes waiters when a partition
// commits. Nothing outside this package opens a replica for writing.

// Errors of the seam, each one a Kafka error the server answers with.
var (
	// ErrUnknownTopicOrPartition: no such topic or partition.
	ErrUnknownTopicOrPartition = errors.New("unknown topic or partition")
	// ErrNotLeader: this broker does not lead the partition (retriable:
	// the client refreshes its metadata).
	ErrNotLeader = errors.New("not the leader of the partition")
	// ErrReplicaNotAvailable: this broker should hold a replica of the
	// partition but has not opened it (yet).
	ErrReplicaNotAvailable = errors.New("replica not available")
	// ErrFencedLeaderEpoch: the client's leader epoch is older than the
	// replica's.
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")
	// ErrUnknownLeaderEpoch: the client's leader epoch is newer than the
	// replica's (this broker has not caught up with the metadata).
	ErrUnknownLeaderEpoch = errors.New("unknown leader epoch")
)

// Role is what the metadata last gave a replica, as its broker applied it.
type Role struct {
	Topic       string
	TopicID     string
	Partition   int32
	Leader      int // broker id, coord.NoLeader when none
	LeaderEpoch int32
	Replicas    []int
	ISR         []int
	// IsLeader: this broker leads the partition at LeaderEpoch.
	IsLeader bool
	// TopicMeta is the topic as last read (its configs, for validation).
	TopicMeta *coord.Topic
}

// changeSignal wakes everyone waiting for a partition to change (an
// append, a high watermark move, a role change, a truncation).
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next change.
func (s *changeSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// notify wakes the waiters.
func (s *changeSignal) notify() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// readerPool keeps a few lock-free readers of one replica for reuse.
type readerPool struct {
	mu   sync.Mutex
	dir  string
	free []*logdir.Reader
}

const readersKept = 4

func (p *readerPool) get() (*logdir.Reader, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		rd := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return rd, nil
	}
	p.mu.Unlock()
	return logdir.OpenReader(p.dir)
}

func (p *readerPool) put(rd *logdir.Reader) {
	p.mu.Lock()
	if len(p.free) < readersKept && p.dir != "" {
		p.free = append(p.free, rd)
		rd = nil
	}
	p.mu.Unlock()
	if rd != nil {
		rd.Close()
	}
}

func (p *readerPool) close() {
	p.mu.Lock()
	free := p.free
	p.free, p.dir = nil, ""
	p.mu.Unlock()
	for _, rd := range free {
		rd.Close()
	}
}

// Partition is a handle on one local replica, valid until the replica is
// closed (its topic deleted, the broker stopping); a closed handle's calls
// fail with ErrReplicaNotAvailable or ErrNotLeader.
type Partition struct {
	m *Manager
	r *replica
}

// Partition returns the local replica of topic/partition. It fails with
// ErrUnknownTopicOrPartition when the metadata has no such partition, and
// with ErrNotLeader when this broker holds no replica of it (a client
// asking the wrong broker) or ErrReplicaNotAvailable when it should but
// has not opened it yet.
func (m *Manager) Partition(topic string, partition int32) (*Partition, error) {
	m.mu.Lock()
	r := m.reps[key(topic, int(partition))]
	m.mu.Unlock()
	if r != nil && r.applied.Load() != nil {
		return &Partition{m: m, r: r}, nil
	}
	t, err := m.c.Topic(topic)
	if err != nil {
		if errors.Is(err, coord.ErrUnknownTopic) {
			return nil, ErrUnknownTopicOrPartition
		}
		return nil, err
	}
	if partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, ErrUnknownTopicOrPartition
	}
	if slices.Contains(t.Partitions[partition].Replicas, m.id) {
		return nil, ErrReplicaNotAvailable
	}
	return nil, ErrNotLeader
}

// Role is the role the replica last applied; nil once it is closed.
func (p *Partition) Role() *Role { return p.r.applied.Load() }

// Changed returns a channel closed when the partition next changes.
func (p *Partition) Changed() <-chan struct{} { return p.r.changed.wait() }

// State is the replica's live state (offsets, epoch, role on disk).
func (p *Partition) State() (logdir.State, error) { return p.r.log.State() }

// CheckLeaderEpoch is Kafka's check of a client's current leader epoch
// (-1: the client does not know one).
func (p *Partition) CheckLeaderEpoch(clientEpoch int32) error {
	role := p.Role()
	switch {
	case role == nil:
		return ErrReplicaNotAvailable // closed: its topic deleted, the broker stopping
	case clientEpoch < 0 || clientEpoch == role.LeaderEpoch:
		return nil
	case clientEpoch < role.LeaderEpoch:
		return ErrFencedLeaderEpoch
	default:
		return ErrUnknownLeaderEpoch
	}
}

// roleOf builds the Role for replica r from the metadata.
func (m *Manager) roleOf(r *replica, t *coord.Topic, p coord.Partition) *Role {
	return &Role{
		Topic:       t.Name,
		TopicID:     t.ID,
		Partition:   int32(p.Partition),
		Leader:      p.Leader,
		LeaderEpoch: int32(p.LeaderEpoch),
		Replicas:    slices.Clone(p.Replicas),
		ISR:         slices.Clone(p.ISR),
		IsLeader:    p.Leader == m.id,
		TopicMeta:   t,
	}
}

// replicaSeam is the part of a replica that the seam adds.
type replicaSeam struct {
	applied atomic.Pointer[Role]
	changed changeSignal
	readers readerPool
}
