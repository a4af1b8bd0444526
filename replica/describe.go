package replica

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"mk/logdir"
)

// What the protocol server's describe APIs read of a broker's replicas:
// DescribeLogDirs (the broker's log directory, each replica's size and
// lag) and DescribeProducers (a replica's idempotent producers).

// LogDir is the directory this broker keeps its replicas in, as an
// absolute path: Kafka's one entry of log.dirs.
func (m *Manager) LogDir() string {
	dir := m.c.BrokerDataDir(m.id)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// LogDirSpace is the total and usable bytes of the file system holding
// the log directory (Kafka's FileStore total and usable space), or -1 and
// -1 when it cannot be read.
func (m *Manager) LogDirSpace() (total, usable int64) {
	var st unix.Statfs_t
	if err := unix.Statfs(m.LogDir(), &st); err != nil {
		return -1, -1
	}
	bs := int64(st.Bsize)
	return int64(st.Blocks) * bs, int64(st.Bavail) * bs
}

// ReplicaSize is one local replica as DescribeLogDirs reports it.
type ReplicaSize struct {
	Topic     string
	Partition int32
	// Size is the bytes of its segment (.log) files, Kafka's log size;
	// mk describe topic shows the same for the leader's replica.
	Size int64
	// OffsetLag is how far the log end is behind the high watermark
	// (Kafka's max(HW - LEO, 0) for a current log), -1 when the replica's
	// state cannot be read.
	OffsetLag int64
}

// ReplicaSizes lists the open replicas of this broker that want accepts
// (nil: all), in no particular order. A replica closed while it is being
// read (its topic deleted) is left out.
func (m *Manager) ReplicaSizes(want func(topic string, partition int32) bool) []ReplicaSize {
	m.mu.Lock()
	reps := make([]*replica, 0, len(m.reps))
	for _, r := range m.reps {
		if r.applied.Load() != nil && (want == nil || want(r.topic, int32(r.partition))) {
			reps = append(reps, r)
		}
	}
	m.mu.Unlock()
	out := make([]ReplicaSize, 0, len(reps))
	for _, r := range reps {
		size, ok := segmentBytes(r.dir)
		if !ok {
			continue
		}
		rs := ReplicaSize{Topic: r.topic, Partition: int32(r.partition), Size: size, OffsetLag: -1}
		if st, err := r.log.State(); err == nil {
			rs.OffsetLag = max(st.HighWatermark-st.LogEndOffset, 0)
		}
		out = append(out, rs)
	}
	return out
}

// segmentBytes is the size of a replica's .log files; false when its
// directory is gone.
func segmentBytes(dir string) (int64, bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n, true
}

// Producers is the state of every idempotent producer the replica
// remembers (Kafka's activeProducers: a leader's or a follower's own
// copy), keyed by producer id.
func (p *Partition) Producers() (map[int64]logdir.ProducerEntry, error) {
	if p.Role() == nil {
		return nil, ErrReplicaNotAvailable // closed: its topic deleted, the broker stopping
	}
	return p.r.log.ProducerStates(), nil
}
