package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"mk/coord"
	"mk/logdir"
)

// Local is the cluster directory as the client commands see it: metadata
// read from the files of package coord, offsets and sizes from the
// replicas' own files (package logdir).
type Local struct {
	c *coord.Cluster
	// opened are the files that could not be read when the cluster was
	// opened to read what it can (a damaged cluster.json): listings
	// report them.
	opened []error
}

var _ Client = (*Local)(nil)

// OpenLocal opens an existing cluster directory; a damaged cluster.json
// is an error.
func OpenLocal(dir string) (*Local, error) {
	c, err := coord.Open(dir)
	if err != nil {
		return nil, err
	}
	return &Local{c: c}, nil
}

// OpenLocalReadable opens a cluster directory to read what can be read
// (list and describe, cluster stop): a damaged cluster.json is returned
// among the damaged files, not as a failure.
func OpenLocalReadable(dir string) (*Local, []error, error) {
	c, bad, err := coord.OpenReadable(dir)
	if err != nil {
		return nil, nil, err
	}
	var damaged []error
	if bad != nil {
		damaged = append(damaged, bad)
	}
	return &Local{c: c}, damaged, nil
}

// Coord is the metadata directory.
func (l *Local) Coord() *coord.Cluster { return l.c }

// Close releases nothing: a Local holds no open files between calls.
func (l *Local) Close() {}

// DescribeCluster lists every registered broker, alive or not.
func (l *Local) DescribeCluster(context.Context) (*ClusterView, []error, error) {
	c := l.c
	var damaged []error
	infos, bad, err := c.BrokersReadable()
	if err != nil {
		return nil, nil, err
	}
	damaged = append(damaged, bad...)
	ctl, err := c.Controller()
	if err != nil {
		damaged = append(damaged, err)
	}
	topics, bad, err := c.TopicsReadable()
	if err != nil {
		return nil, nil, err
	}
	damaged = append(damaged, bad...)
	view := &ClusterView{ClusterID: c.ID(), Dir: c.Dir(), Controller: -1, ControllerEpoch: ctl.Epoch, Brokers: []BrokerView{}}
	if ctl.Active {
		view.Controller = ctl.Broker
	}
	for _, b := range infos {
		row := BrokerView{ID: b.ID, State: b.State(), Host: b.Host, Address: b.Address, Controller: ctl.Active && ctl.Broker == b.ID}
		if b.LockHeld {
			row.Pid = b.Pid
		}
		for _, t := range topics {
			for _, p := range t.Partitions {
				if slices.Contains(p.Replicas, b.ID) {
					row.Partitions++
					row.SizeBytes += segmentBytes(c.PartitionDir(b.ID, t.Name, p.Partition))
				}
				if p.Leader == b.ID {
					row.Leaders++
				}
			}
		}
		view.Brokers = append(view.Brokers, row)
	}
	return view, damaged, nil
}

// viewTopic reads a topic's partitions' offsets from their leaders'
// replicas (or, for a partition without a leader, from the first replica
// that has files). Offsets are -1 where no replica can be read.
func (l *Local) viewTopic(t *coord.Topic) *TopicView {
	c := l.c
	v := &TopicView{Topic: t.Name, TopicID: t.ID, PartitionCount: len(t.Partitions), ReplicationFactor: t.ReplicationFactor(), Config: t.Config, Partitions: []PartitionView{}, Notes: []string{}}
	if v.Config == nil {
		v.Config = map[string]string{}
	}
	states := map[int]string{} // broker id -> alive, failed or dead
	state := func(id int) string {
		if s, ok := states[id]; ok {
			return s
		}
		b, _ := c.Broker(id) // an unreadable registration is still judged by its lock
		states[id] = b.State()
		return states[id]
	}
	stale := false // a leader or ISR member is down
	for _, p := range t.Partitions {
		pv := PartitionView{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR, LogStartOffset: -1, HighWatermark: -1, LogEndOffset: -1, SizeBytes: -1,
			OfflineReplicas: []int{}, Damaged: append([]coord.DamagedReplica{}, p.Damaged...), LastUncleanEpoch: p.LastUncleanEpoch}
		for _, d := range p.Damaged {
			note := fmt.Sprintf("partition %d: %s; it may not lead while a replica that may hold them is alive", p.Partition, d)
			if p.Leader == coord.NoLeader {
				note += " (with none alive, the partition has no leader until one comes back or unclean.leader.election.enable is set)"
			}
			v.Notes = append(v.Notes, note)
		}
		if p.LastUncleanEpoch > 0 && p.LastUncleanEpoch == p.LeaderEpoch {
			v.Notes = append(v.Notes, fmt.Sprintf("partition %d: broker %d was elected leader uncleanly at epoch %d: records acknowledged before may be lost", p.Partition, p.Leader, p.LeaderEpoch))
		}
		for _, b := range p.Replicas {
			if state(b) != "alive" {
				pv.OfflineReplicas = append(pv.OfflineReplicas, b)
				stale = stale || b == p.Leader || slices.Contains(p.ISR, b)
			}
		}
		if p.Leader != coord.NoLeader {
			pv.LeaderState = state(p.Leader)
		}
		order := p.Replicas
		if p.Leader != coord.NoLeader {
			order = append([]int{p.Leader}, p.Replicas...)
		}
		for _, b := range order {
			dir := c.PartitionDir(b, t.Name, p.Partition)
			rd, err := logdir.OpenReader(dir)
			if err != nil {
				continue
			}
			st, err := rd.State()
			rd.Close()
			if err != nil {
				continue
			}
			pv.LogStartOffset, pv.HighWatermark, pv.LogEndOffset = st.LogStartOffset, st.HighWatermark, st.LogEndOffset
			pv.SizeBytes = segmentBytes(dir)
			break
		}
		v.Partitions = append(v.Partitions, pv)
	}
	if ctl, _ := c.Controller(); stale && !ctl.Active {
		var down []string
		for id, s := range states {
			if s != "alive" {
				down = append(down, fmt.Sprintf("broker %d is %s", id, s))
			}
		}
		slices.Sort(down)
		v.Notes = append(v.Notes, fmt.Sprintf("no controller is running, so LEADER and ISR are as last recorded, not current: %s", strings.Join(down, ", ")))
	}
	return v
}

// segmentBytes is the size of a replica's .log files: Kafka's log size,
// what a broker's DescribeLogDirs reports for the replica, so that SIZE is
// the same locally and over the wire (a broker's is the sum of its
// replicas': index, state and snapshot files are not counted).
func segmentBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// Topics describes every readable topic; the damaged ones are named.
func (l *Local) Topics(context.Context) ([]*TopicView, []error, error) {
	ts, bad, err := l.c.TopicsReadable()
	if err != nil {
		return nil, nil, err
	}
	views := []*TopicView{}
	for _, t := range ts {
		views = append(views, l.viewTopic(t))
	}
	return views, bad, nil
}

// Topic describes one topic.
func (l *Local) Topic(_ context.Context, name string) (*TopicView, error) {
	if err := coord.ValidateTopicName(name); err != nil {
		return nil, err
	}
	t, err := l.c.Topic(name)
	if err != nil {
		return nil, err
	}
	return l.viewTopic(t), nil
}

// OffsetsForTime reads, per partition, the first offset at or after ms
// from its leader's time index.
func (l *Local) OffsetsForTime(_ context.Context, tps []coord.TopicPartition, ms int64) (map[coord.TopicPartition]int64, error) {
	out := map[coord.TopicPartition]int64{}
	for _, tp := range tps {
		t, err := l.c.Topic(tp.Topic)
		if err != nil {
			return nil, err
		}
		p := t.Partitions[tp.Partition]
		b := p.Leader
		if b == coord.NoLeader && len(p.ISR) > 0 {
			b = p.ISR[0]
		}
		rd, err := logdir.OpenReader(l.c.PartitionDir(b, t.Name, tp.Partition))
		if err != nil {
			return nil, err
		}
		off, _, err := rd.OffsetForTimestamp(ms)
		rd.Close()
		if err != nil {
			return nil, err
		}
		out[tp] = off
	}
	return out, nil
}
