package replica

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mk/coord"
	"mk/logdir"
)

// Options are a broker's replica settings. Names in parentheses are
// Kafka's broker configs.
type Options struct {
	// RetentionCheckInterval: how often retention runs
	// (log.retention.check.interval.ms, default 5 minutes).
	RetentionCheckInterval time.Duration
	// CheckpointInterval: how often checkpoints are written and rolled
	// segments fsynced (log.flush.offset.checkpoint.interval.ms, 60 s).
	CheckpointInterval time.Duration
	// Backstop: re-read metadata this often even without an fsnotify
	// event, so a lost event costs latency, never correctness.
	Backstop time.Duration
	// ReplicaLagMax: a follower not caught up for this long leaves the ISR
	// (replica.lag.time.max.ms, 30 s).
	ReplicaLagMax time.Duration
	// ProducerIDExpiration: an idempotent producer that has written
	// nothing to a partition for this long is forgotten there
	// (producer.id.expiration.ms, 1 day), checked every
	// ProducerIDExpirationCheckInterval
	// (producer.id.expiration.check.interval.ms, 10 minutes).
	ProducerIDExpiration              time.Duration
	ProducerIDExpirationCheckInterval time.Duration
	// Logf reports what the manager does; nil discards.
	Logf func(format string, args ...any)
}

// DefaultOptions returns Kafka's defaults.
func DefaultOptions() Options {
	return Options{
		RetentionCheckInterval: 5 * time.Minute,
		CheckpointInterval:     time.Minute,
		Backstop:               time.Second,
		ReplicaLagMax:          30 * time.Second,

		ProducerIDExpiration:              logdir.DefaultProducerIDExpirationMs * time.Millisecond,
		ProducerIDExpirationCheckInterval: 10 * time.Minute,
	}
}

// Manager runs the replicas hosted by one broker.
type Manager struct {
	c    *coord.Cluster
	id   int
	opts Options

	mu   sync.Mutex
	reps map[string]*replica // by "<topic>-<partition>"
	wg   sync.WaitGroup
	// unreadable holds the topics whose metadata file could not be read at
	// the last reconciliation, with the error last logged for each (used by
	// reconcile only, on the Run goroutine).
	unreadable map[string]string
}

type replica struct {
	topic     string
	partition int
	topicID   string
	dir       string
	log       *logdir.Log
	role      string             // the role last applied: leader, epoch, ISR
	cancel    context.CancelFunc // stops the leader or follower loop
	replicaSeam
}

// NewManager makes the replica manager of broker id.
func NewManager(c *coord.Cluster, id int, opts Options) *Manager {
	d := DefaultOptions()
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = d.CheckpointInterval
	}
	if opts.Backstop <= 0 {
		opts.Backstop = d.Backstop
	}
	if opts.ReplicaLagMax <= 0 {
		opts.ReplicaLagMax = d.ReplicaLagMax
	}
	if opts.ProducerIDExpiration <= 0 {
		opts.ProducerIDExpiration = d.ProducerIDExpiration
	}
	if opts.ProducerIDExpirationCheckInterval <= 0 {
		opts.ProducerIDExpirationCheckInterval = d.ProducerIDExpirationCheckInterval
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return &Manager{c: c, id: id, opts: opts, reps: map[string]*replica{}, unreadable: map[string]string{}}
}

// Run serves the broker's replicas until ctx ends, then checkpoints and
// closes them. The first reconciliation (recovery of every replica on disk)
// is done before Run returns control to its loop; Ready is closed then.
func (m *Manager) Run(ctx context.Context, ready chan<- struct{}) error {
	wake := coord.Watch(ctx, []string{m.c.TopicsMetaDir()}, m.opts.Backstop)
	m.reconcile(ctx, true)
	if ready != nil {
		close(ready)
	}
	retention := time.NewTicker(m.opts.RetentionCheckInterval)
	defer retention.Stop()
	checkpoint := time.NewTicker(m.opts.CheckpointInterval)
	defer checkpoint.Stop()
	expireProducers := time.NewTicker(m.opts.ProducerIDExpirationCheckInterval)
	defer expireProducers.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case <-wake:
			m.reconcile(ctx, false)
		case <-retention.C:
			m.applyRetention()
		case <-checkpoint.C:
			m.checkpoint()
		case <-expireProducers.C:
			m.expireProducers()
		}
	}
}

func key(topic string, partition int) string { return topic + "-" + strconv.Itoa(partition) }

// reconcile makes the hosted replicas match the topic metadata: opens
// (recovers) new ones, applies roles, removes replicas of deleted topics.
// A topic whose file cannot be read (corrupt, say) keeps its replicas as
// they are, data and role, while every other topic is served.
func (m *Manager) reconcile(ctx context.Context, first bool) {
	topics, unreadable, err := m.readTopics()
	if err != nil {
		m.opts.Logf("read topics: %v", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]bool{}
	for k, r := range m.reps {
		if unreadable[r.topic] {
			want[k] = true
		}
	}
	for _, t := range topics {
		for _, p := range t.Partitions {
			if !slices.Contains(p.Replicas, m.id) {
				continue
			}
			k := key(t.Name, p.Partition)
			want[k] = true
			r := m.reps[k]
			if r != nil && r.topicID != t.ID {
				m.remove(r) // deleted and created again under the same name
				r = nil
			}
			if r == nil {
				if r, err = m.open(t, p); errors.Is(err, errTopicGone) {
					m.opts.Logf("topic %s was deleted while its replicas were being created: stopped", t.Name)
					break
				} else if err != nil {
					m.opts.Logf("open replica %s: %v", k, err)
					continue
				}
				m.reps[k] = r
			}
			r.log.SetConfig(m.logConfig(t))
			m.applyRole(ctx, r, t, p)
		}
	}
	for k, r := range m.reps {
		if !want[k] {
			// mk topic delete removes the directory (coord.DeleteTopic
			// renames it, then removes it); removing it here as well races
			// with that rename. One left by a delete that did not finish is
			// removed at the broker's next start.
			m.opts.Logf("topic %s deleted: closing replica %s", r.topic, k)
			m.close(r)
			delete(m.reps, k)
		}
	}
	if first && len(unreadable) == 0 {
		// Replica directories left from topics deleted while this broker
		// was down. Not while a topic is unreadable: its replicas would
		// look deleted.
		ents, _ := os.ReadDir(m.c.BrokerDataDir(m.id))
		for _, e := range ents {
			if e.IsDir() && !want[e.Name()] && isPartitionDir(e.Name()) {
				m.opts.Logf("removing replica %s of a deleted topic", e.Name())
				os.RemoveAll(filepath.Join(m.c.BrokerDataDir(m.id), e.Name()))
			}
		}
	}
}

// readTopics reads every topic file. It returns the topics it could read
// and the names of those it could not (each logged once per distinct
// error); err is for the listing itself.
func (m *Manager) readTopics() ([]*coord.Topic, map[string]bool, error) {
	ents, err := os.ReadDir(m.c.TopicsMetaDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	var topics []*coord.Topic
	unreadable := map[string]bool{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || coord.ValidateTopicName(name) != nil {
			continue // not a topic file: a temporary file, say
		}
		t, err := m.c.Topic(name)
		if errors.Is(err, coord.ErrUnknownTopic) {
			continue // deleted since the listing
		}
		if err != nil {
			unreadable[name] = true
			if m.unreadable[name] != err.Error() {
				m.opts.Logf("read topic %s: %v; its replicas are left as they are", name, err)
			}
			m.unreadable[name] = err.Error()
			continue
		}
		delete(m.unreadable, name)
		topics = append(topics, t)
	}
	for name := range m.unreadable {
		if !unreadable[name] {
			delete(m.unreadable, name) // deleted
		}
	}
	return topics, unreadable, nil
}

func isPartitionDir(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return false
	}
	_, err := strconv.Atoi(name[i+1:])
	return err == nil
}

// partitionMetadata is Kafka's partition.metadata: the topic id the
// replica belongs to, so a replica of a deleted topic is never taken for
// one of a new topic with the same name.
const partitionMetadata = "partition.metadata"

// errTopicGone: open found the topic deleted since it was read.
var errTopicGone = errors.New("topic deleted")

// topicExists reports whether the topic file of name is still there.
// A stat, not a read: a broker opening thousands of new replicas checks it
// before and after each one.
func (m *Manager) topicExists(name string) bool {
	_, err := os.Stat(filepath.Join(m.c.TopicsMetaDir(), name+".json"))
	return !errors.Is(err, os.ErrNotExist)
}

func (m *Manager) open(t *coord.Topic, p coord.Partition) (*replica, error) {
	dir := m.c.PartitionDir(m.id, t.Name, p.Partition)
	// mk topic delete removes the topic file, then the replica directories
	// it finds. A broker still creating the topic's replicas must stop,
	// and remove the one it was creating if the delete came in between.
	if !m.topicExists(t.Name) {
		return nil, errTopicGone
	}
	r, err := m.openReplica(t, p, dir)
	if err == nil && !m.topicExists(t.Name) {
		m.remove(r)
		return nil, errTopicGone
	}
	return r, err
}

func (m *Manager) openReplica(t *coord.Topic, p coord.Partition, dir string) (*replica, error) {
	metaPath := filepath.Join(dir, partitionMetadata)
	if data, err := os.ReadFile(metaPath); err == nil && !strings.Contains(string(data), "topic_id: "+t.ID+"\n") {
		m.opts.Logf("replica %s belongs to an older topic %s: removing it", dir, t.Name)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	l, rep, err := logdir.Recover(dir, m.logConfig(t))
	if err != nil {
		return nil, err
	}
	if rep.Truncated() {
		m.opts.Logf("recovered %s: cut %d bytes and %d segments at offset %d: %s",
			dir, rep.TruncatedBytes, len(rep.DeletedSegments), rep.LogEndOffset, rep.Damage)
	}
	for _, bad := range rep.BadSnapshots {
		m.opts.Logf("recovered %s: deleted a damaged producer state snapshot (rebuilt from the log): %s", dir, bad)
	}
	if _, err := os.Stat(metaPath); err != nil {
		if err := logdir.WriteFileAtomic(metaPath, []byte("version: 0\ntopic_id: "+t.ID+"\n"), 0o644); err != nil {
			l.Close()
			return nil, err
		}
	}
	r := &replica{topic: t.Name, partition: p.Partition, topicID: t.ID, dir: dir, log: l}
	r.readers.dir = dir
	return r, nil
}

// close stops r's leader or follower loop and closes its log.
func (m *Manager) close(r *replica) {
	if r.cancel != nil {
		r.cancel()
	}
	r.applied.Store(nil)
	r.changed.notify()
	r.readers.close()
	r.log.Close()
}

// remove closes r and removes its directory.
func (m *Manager) remove(r *replica) {
	m.close(r)
	if err := os.RemoveAll(r.dir); err != nil {
		m.opts.Logf("remove %s: %v", r.dir, err)
	}
}

// applyRole gives r the role the metadata says, when it changed.
func (m *Manager) applyRole(ctx context.Context, r *replica, t *coord.Topic, p coord.Partition) {
	role := fmt.Sprintf("leader=%d epoch=%d isr=%v replicas=%v", p.Leader, p.LeaderEpoch, p.ISR, p.Replicas)
	if role == r.role {
		if cur := r.applied.Load(); cur != nil && cur.TopicMeta.Version != t.Version {
			r.applied.Store(m.roleOf(r, t, p)) // configs changed
		}
		return
	}
	defer r.changed.notify()
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	epoch := int32(p.LeaderEpoch)
	if p.Leader == m.id {
		onlyMe := len(p.ISR) == 1 && p.ISR[0] == m.id
		if err := r.log.BecomeLeader(epoch, onlyMe); err != nil {
			m.opts.Logf("%s: become leader at epoch %d: %v", r.dir, epoch, err)
			return
		}
		if len(p.Replicas) > 1 {
			lctx, cancel := context.WithCancel(ctx)
			r.cancel = cancel
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.lead(lctx, r, p) }()
		}
	} else {
		st, err := r.log.State()
		if err == nil && (st.Leader || st.LeaderEpoch < epoch) {
			err = r.log.BecomeFollower(epoch)
		}
		if err != nil {
			m.opts.Logf("%s: become follower at epoch %d: %v", r.dir, epoch, err)
			return
		}
		if p.Leader != coord.NoLeader {
			fctx, cancel := context.WithCancel(ctx)
			r.cancel = cancel
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.follow(fctx, r, p.Leader, epoch) }()
		}
	}
	r.role = role
	r.applied.Store(m.roleOf(r, t, p))
}

// Fence is the controller's OnLeaderChange hook: before a new leader is
// published, the old leader's replica is moved to the new epoch as a
// follower, so no producer can append to it under the old epoch. The old
// leader's files are fenced even when its broker is dead.
func (m *Manager) Fence(topic string, partition, oldLeader, newLeader, newEpoch int) error {
	if oldLeader == coord.NoLeader {
		return nil
	}
	dir := m.c.PartitionDir(oldLeader, topic, partition)
	l, err := logdir.Open(dir, logdir.Config{})
	if errors.Is(err, os.ErrNotExist) {
		return nil // never created: nothing to fence
	}
	if err != nil {
		return err
	}
	defer l.Close()
	l.LockTimeout = 2 * time.Second
	return l.BecomeFollower(int32(newEpoch))
}

func (m *Manager) applyRetention() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UnixMilli()
	for _, r := range m.reps {
		st, err := r.log.State()
		if err != nil || !st.Leader {
			// Followers keep what their leader keeps: they follow its log start.
			continue
		}
		res, err := r.log.DeleteRetained(now)
		if err != nil {
			m.opts.Logf("%s: retention: %v", r.dir, err)
			continue
		}
		if len(res.Segments) > 0 {
			m.opts.Logf("%s: retention deleted %d segments (%d bytes); log start offset %d", r.dir, len(res.Segments), res.Bytes, res.LogStartOffset)
		}
	}
}

// logConfig is the log configuration of topic t's replicas on this broker:
// the topic's, and the broker's producer.id.expiration.ms.
func (m *Manager) logConfig(t *coord.Topic) logdir.Config {
	cfg := t.LogConfig()
	cfg.ProducerIDExpirationMs = m.opts.ProducerIDExpiration.Milliseconds()
	return cfg
}

// expireProducers forgets, in every replica, the idempotent producers that
// wrote nothing for producer.id.expiration.ms.
func (m *Manager) expireProducers() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UnixMilli()
	for _, r := range m.reps {
		if n := r.log.ExpireProducers(now); n > 0 {
			m.opts.Logf("%s: forgot %d idempotent producers idle for %v", r.dir, n, m.opts.ProducerIDExpiration)
		}
	}
}

func (m *Manager) checkpoint() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.reps {
		if err := r.log.Checkpoint(); err != nil {
			m.opts.Logf("%s: checkpoint: %v", r.dir, err)
		}
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	for _, r := range m.reps {
		if r.cancel != nil {
			r.cancel()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.reps {
		r.log.Checkpoint()
		r.log.Close()
	}
	m.reps = map[string]*replica{}
}
