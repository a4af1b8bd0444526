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
	// Lease reads the broker's lease (coord.BrokerSession.Lease) and
	// LeaseSlack is its slack: a leader whose lease is not fresh reads the
	// metadata again before it acknowledges anything (zombie.go). Nil:
	// the lease is always fresh.
	Lease      func() (lastBeat time.Time, gaps uint64)
	LeaseSlack time.Duration
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

	// mu guards reps for the goroutines other than Run's (the protocol
	// server's lookups). reps is written only by the Run goroutine, under
	// mu, so that goroutine reads it without mu. A reconciliation pass
	// holds mu while it adds, removes and gives roles to replicas, so a
	// lookup sees a replica's role and its state on disk agree (a client
	// that saw the state say "leader" finds it served); the slow work (the
	// recovery of a replica with data, checkpoints, retention) is done
	// without mu, so a lookup never waits for it.
	mu   sync.Mutex
	reps map[string]*replica // by "<topic>-<partition>"; recovered ones only
	wg   sync.WaitGroup
	// recovering holds the replicas with data on disk being recovered,
	// each on a goroutine of its own, by key (Run goroutine only). A key
	// is in at most one of reps and recovering, and reconcile starts a
	// recovery only for a key in neither: no two recoveries of one replica
	// run at once, and a replica is published (put in reps, given its
	// role) only once its recovery has finished.
	recovering map[string]*recovery
	// recoveries counts the recovery goroutines; shutdown waits for them.
	recoveries sync.WaitGroup
	// recoverySlots bounds the recoveries running at once.
	recoverySlots chan struct{}
	// recoveredMu guards recovered, the finished recoveries not yet
	// adopted by reconcile; recoveredSignal wakes Run when one is added.
	recoveredMu     sync.Mutex
	recovered       []*recovery
	recoveredSignal chan struct{}
	// unreadable holds the topics whose metadata file could not be read at
	// the last reconciliation, with the error last logged for each (used by
	// reconcile only, on the Run goroutine).
	unreadable map[string]string
	// openErrs holds, by "<topic>-<partition>", the error last logged for a
	// replica that could not be opened (and by "check <topic>-<partition>"
	// for one whose check failed), so that it is logged once.
	openErrs map[string]string
	// fresh tracks reconciliations for the zombie's self-check.
	fresh freshness
}

// recovery is one replica's recovery under way on a goroutine of its own.
type recovery struct {
	key     string
	topic   string
	topicID string // of the topic it was started for
	r       *replica
	err     error
}

// recoveryConcurrency is how many replicas recover at once: a broker with
// many replicas to recover after a crash is ready sooner than one at a
// time (Kafka's num.recovery.threads.per.data.dir), and a few large
// replicas leave a slot for the new, empty ones of a topic created
// meanwhile. Recovery is mostly reads and CRCs; more at once than this
// mostly contends for the same disk and CPUs.
const recoveryConcurrency = 4

// recoveryHook, when set (by tests only), is called by a recovery before
// it recovers the replica in dir.
var recoveryHook func(dir string)

type replica struct {
	topic     string
	partition int
	topicID   string
	dir       string
	log       *logdir.Log
	role      string             // the role last applied: leader, epoch, ISR
	cancel    context.CancelFunc // stops the leader or follower loop
	// missing is the message last logged about committed records the log
	// lacks ("" while it lacks none), so that it is logged once.
	missing string
	// notLeading is the leader epoch at which it last said it would not
	// lead (-1: none), so that it says it once per epoch.
	notLeading int
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
	if opts.LeaseSlack <= 0 {
		opts.LeaseSlack = coord.SessionTimeout / 2
	}
	m := &Manager{c: c, id: id, opts: opts, reps: map[string]*replica{}, unreadable: map[string]string{}, openErrs: map[string]string{},
		recovering:      map[string]*recovery{},
		recoverySlots:   make(chan struct{}, recoveryConcurrency),
		recoveredSignal: make(chan struct{}, 1),
	}
	m.fresh.poke = make(chan struct{}, 1)
	return m
}

// Run serves the broker's replicas until ctx ends, then checkpoints and
// closes them. The first reconciliation starts the recovery of every
// replica on disk; each is served as soon as its own recovery is done, and
// ready is closed once all of them are.
func (m *Manager) Run(ctx context.Context, ready chan<- struct{}) error {
	wake := coord.Watch(ctx, []string{m.c.TopicsMetaDir()}, m.opts.Backstop)
	m.reconcile(ctx, true)
	initial := map[string]bool{} // the recoveries ready waits for
	for k := range m.recovering {
		initial[k] = true
	}
	checkReady := func() {
		if ready == nil {
			return
		}
		for k := range initial {
			if m.recovering[k] != nil {
				return
			}
		}
		close(ready)
		ready = nil
	}
	checkReady()
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
			checkReady()
		case <-m.recoveredSignal:
			m.reconcile(ctx, false)
			checkReady()
		case <-m.fresh.poke:
			m.reconcile(ctx, false)
			checkReady()
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

// reconcile makes the hosted replicas match the topic metadata: creates
// new ones, starts the recovery of those with data on disk and publishes
// them once recovered, applies roles, removes replicas of deleted topics.
// A topic whose file cannot be read (corrupt, say) keeps its replicas as
// they are, data and role, while every other topic is served. It runs on
// the Run goroutine.
func (m *Manager) reconcile(ctx context.Context, first bool) {
	n, gaps := m.reconcileStarting()
	topics, unreadable, err := m.readTopics()
	if err != nil {
		m.opts.Logf("read topics: %v", err)
		return
	}
	defer m.reconcileFinished(n, gaps)
	finished := m.adoptRecovered()
	want := map[string]bool{}
	m.mu.Lock()
	defer m.mu.Unlock()
	defer func() {
		for k, rec := range finished {
			if errors.Is(rec.err, errTopicGone) {
				m.opts.Logf("topic %s was deleted while its replicas were being created: stopped", rec.topic)
			}
			if rec.r == nil {
				continue
			}
			// Recovered for a partition this broker no longer holds,
			// or of a topic that cannot be read now: closed, as the
			// replicas below are (one of an unreadable topic is
			// recovered again when it can be read).
			if !want[k] && !unreadable[rec.topic] {
				m.opts.Logf("topic %s deleted: closing replica %s", rec.topic, k)
			}
			m.close(rec.r)
		}
	}()
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
				delete(m.reps, k)
				r = nil
			}
			if r == nil {
				rec, done := finished[k]
				delete(finished, k)
				switch {
				case m.recovering[k] != nil:
					continue // served once its recovery is done
				case done && rec.err != nil:
					// Tried again at the next pass, not at once: a
					// recovery that fails fails again right away.
					if errors.Is(rec.err, errTopicGone) {
						m.opts.Logf("topic %s was deleted while its replicas were being created: stopped", t.Name)
					} else if msg := rec.err.Error(); m.openErrs[k] != msg {
						m.opts.Logf("open replica %s: %v", k, rec.err)
						m.openErrs[k] = msg
					}
					continue
				case done && rec.topicID != t.ID:
					// Its topic was deleted and created again while it
					// recovered: recovering the new one removes it.
					m.close(rec.r)
					m.startRecovery(ctx, t, p)
					continue
				case done:
					delete(m.openErrs, k)
					r = rec.r
					m.reps[k] = r
				case m.hasData(t, p):
					m.startRecovery(ctx, t, p)
					continue
				default:
					// A new replica has nothing to recover: it is made
					// here, so that a produce sent right after its topic
					// was created waits for this pass rather than being
					// refused.
					if r, err = m.open(t, p); errors.Is(err, errTopicGone) {
						m.opts.Logf("topic %s was deleted while its replicas were being created: stopped", t.Name)
						continue
					} else if err != nil {
						if msg := err.Error(); m.openErrs[k] != msg {
							m.opts.Logf("open replica %s: %v", k, err)
							m.openErrs[k] = msg
						}
						continue
					}
					delete(m.openErrs, k)
					m.reps[k] = r
				}
			}
			r.log.SetConfig(m.logConfig(t))
			st, err := r.log.Check()
			if err != nil {
				// Its role stays as it was until the check passes.
				if msg := err.Error(); m.openErrs["check "+k] != msg {
					m.opts.Logf("%s: check: %v", r.dir, err)
					m.openErrs["check "+k] = msg
				}
				continue
			}
			delete(m.openErrs, "check "+k)
			m.reportMissing(r, t, p, st)
			m.applyRole(ctx, r, t, p, st)
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
	if first {
		m.sweep(want, topics, unreadable)
	}
}

// hasData reports whether this broker's replica of partition p of topic
// t has a directory already (data to recover, however much), as opposed to
// a new replica.
func (m *Manager) hasData(t *coord.Topic, p coord.Partition) bool {
	_, err := os.Lstat(m.c.PartitionDir(m.id, t.Name, p.Partition))
	return !errors.Is(err, os.ErrNotExist)
}

// startRecovery recovers the replica of partition p of topic t on a
// goroutine of its own; the next reconcile after it finishes publishes
// it. Run goroutine only, for a key neither in reps nor recovering.
func (m *Manager) startRecovery(ctx context.Context, t *coord.Topic, p coord.Partition) {
	rec := &recovery{key: key(t.Name, p.Partition), topic: t.Name, topicID: t.ID}
	m.recovering[rec.key] = rec
	m.recoveries.Add(1)
	go func() {
		defer m.recoveries.Done()
		select {
		case m.recoverySlots <- struct{}{}:
			rec.r, rec.err = m.open(t, p)
			<-m.recoverySlots
		case <-ctx.Done():
			rec.err = ctx.Err()
		}
		m.recoveredMu.Lock()
		m.recovered = append(m.recovered, rec)
		m.recoveredMu.Unlock()
		select {
		case m.recoveredSignal <- struct{}{}:
		default: // Run is woken already
		}
	}()
}

// adoptRecovered takes the recoveries finished since the last call out of
// recovering, by key. Run goroutine only.
func (m *Manager) adoptRecovered() map[string]*recovery {
	m.recoveredMu.Lock()
	done := m.recovered
	m.recovered = nil
	m.recoveredMu.Unlock()
	byKey := map[string]*recovery{}
	for _, rec := range done {
		delete(m.recovering, rec.key)
		if rec.err == nil || byKey[rec.key] == nil {
			byKey[rec.key] = rec
		}
	}
	return byKey
}

// sweep removes, at the broker's start, the replica directories of topics
// deleted while it was down (and of partitions no longer assigned to it).
// "Deleted" means that meta/topics holds no file of the topic's name: the
// replicas of a topic whose file cannot be read are kept, and so is a
// replica whose partition.metadata cannot be read, since whose it is is
// then unknown; both are reported.
func (m *Manager) sweep(want map[string]bool, topics []*coord.Topic, unreadable map[string]bool) {
	byName := map[string]*coord.Topic{}
	for _, t := range topics {
		byName[t.Name] = t
	}
	data := m.c.BrokerDataDir(m.id)
	ents, _ := os.ReadDir(data)
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || want[name] || !isPartitionDir(name) {
			continue
		}
		topic := name[:strings.LastIndexByte(name, '-')]
		if coord.ValidateTopicName(topic) != nil || unreadable[topic] {
			continue // not a replica directory; or its topic cannot be read
		}
		dir := filepath.Join(data, name)
		id, err := logdir.ReadPartitionMetadata(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			m.opts.Logf("keeping replica %s of no current partition: %v", name, err)
			continue
		}
		why := "of a deleted topic"
		if t := byName[topic]; t != nil {
			why = "of a partition not assigned to this broker"
			if id != "" && id != t.ID {
				why = fmt.Sprintf("of an older topic %s (topic id %s)", topic, id)
			}
		}
		m.opts.Logf("removing replica %s %s", name, why)
		os.RemoveAll(dir)
	}
}

// readTopics reads every topic file through coord's one listing (so the
// broker agrees with clients and the controller on which topics exist). It
// returns the topics it could read and the names of those it could not
// (each logged once per distinct error); err is for the listing itself.
func (m *Manager) readTopics() ([]*coord.Topic, map[string]bool, error) {
	topics, bad, err := m.c.ListTopics()
	if err != nil {
		return nil, nil, err
	}
	unreadable := map[string]bool{}
	for _, u := range bad {
		unreadable[u.Name] = true
		if m.unreadable[u.Name] != u.Err.Error() {
			m.opts.Logf("read topic %s: %v; its replicas are left as they are", u.Name, u.Err)
		}
		m.unreadable[u.Name] = u.Err.Error()
	}
	for name := range m.unreadable {
		if !unreadable[name] {
			delete(m.unreadable, name) // readable again, or deleted
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

// errTopicGone: open found the topic deleted since it was read.
var errTopicGone = errors.New("topic deleted")

// topicExists reports whether the topic file of name is still there (a
// topic is deleted only when its file is absent: Lstat, so that a link to
// nothing is a topic whose file cannot be read, not a deleted one). A
// stat, not a read: a broker opening thousands of new replicas checks it
// before and after each one.
func (m *Manager) topicExists(name string) bool {
	_, err := os.Lstat(filepath.Join(m.c.TopicsMetaDir(), name+".json"))
	return !errors.Is(err, os.ErrNotExist)
}

// open opens (recovers) the replica of partition p of topic t.
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

// openReplica recovers the replica of partition p of topic t in dir. The replica's
// partition.metadata says which topic it belongs to: a replica of an older
// topic of the same name (deleted, then created again while this broker
// was down) is removed. Only a topic id that can be read and differs from
// t's leads to that: a partition.metadata that cannot be read (empty, cut
// short, garbage) leaves the replica closed and its bytes where they are,
// and the error says what to do.
func (m *Manager) openReplica(t *coord.Topic, p coord.Partition, dir string) (*replica, error) {
	id, err := logdir.ReadPartitionMetadata(dir)
	write := err != nil // rewritten after recovery: missing, or the replica was removed
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A new replica, or one from before partition.metadata: it is
		// written below.
	case err != nil:
		fence(dir)
		return nil, fmt.Errorf("%w; the replica is left closed and its data kept: if it is topic %s's, write %q into the file, else move the directory away", err, t.Name, "version: 0\ntopic_id: "+t.ID+"\n")
	case id != t.ID:
		m.opts.Logf("replica %s belongs to an older topic %s (topic id %s; the topic's is now %s): removing it", dir, t.Name, id, t.ID)
		write = true
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	if recoveryHook != nil {
		recoveryHook(dir)
	}
	l, rep, err := logdir.Recover(dir, m.logConfig(t))
	if err != nil {
		return nil, err
	}
	l.Logf = m.opts.Logf
	if rep.Truncated() {
		m.opts.Logf("recovered %s: cut %d bytes and %d segments at offset %d: %s",
			dir, rep.TruncatedBytes, len(rep.DeletedSegments), rep.LogEndOffset, rep.Damage)
	}
	for _, bad := range rep.BadSnapshots {
		m.opts.Logf("recovered %s: deleted a damaged producer state snapshot (rebuilt from the log): %s", dir, bad)
	}
	if rep.LeaderEpochs != "" {
		m.opts.Logf("recovered %s: %s", dir, rep.LeaderEpochs)
	}
	if write {
		if err := logdir.WritePartitionMetadata(dir, t.ID); err != nil {
			l.Close()
			return nil, err
		}
	}
	r := &replica{topic: t.Name, partition: p.Partition, topicID: t.ID, dir: dir, log: l, notLeading: -1}
	r.readers.dir = dir
	return r, nil
}

// fence makes the replica in dir a follower at its epoch, if it is a
// leader, so that no producer appends to a replica its broker does not
// serve. Best effort: it changes only the state, never the data.
func fence(dir string) {
	l, err := logdir.Open(dir, logdir.Config{})
	if err != nil {
		return
	}
	defer l.Close()
	l.LockTimeout = 2 * time.Second
	if st, err := l.State(); err == nil && st.Leader {
		l.BecomeFollower(st.LeaderEpoch)
	}
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

// lacksCommitted reports whether st's log lacks records that may have
// been committed (see logdir.State.LostCommittedTo).
func lacksCommitted(st logdir.State) bool { return st.LostCommittedTo > st.LogEndOffset }

// acceptsLoss reports whether an unclean election made this broker's
// replica, which lacks committed records, the leader of p after the loss
// was found: the partition accepts the loss and the replica leads with
// what it has.
func (m *Manager) acceptsLoss(p coord.Partition, st logdir.State) bool {
	return p.Leader == m.id && p.LastUncleanEpoch == p.LeaderEpoch && !p.IsDamaged(m.id) && st.LeaderEpoch < int32(p.LeaderEpoch)
}

// reportMissing says, once, that r's log lacks records that may have
// been committed (damage cut by recovery, segment bytes gone while it ran),
// and lists r as damaged in the topic's metadata so that the controller
// elects a replica that holds them. The replica meanwhile copies them back
// from its leader, if it has one, and is taken off the list when it joins
// the ISR again.
func (m *Manager) reportMissing(r *replica, t *coord.Topic, p coord.Partition, st logdir.State) {
	if !lacksCommitted(st) {
		if r.missing != "" {
			m.opts.Logf("%s: holds every committed record again (log end %d)", r.dir, st.LogEndOffset)
		}
		r.missing = ""
		return
	}
	d := coord.DamagedReplica{Broker: m.id, LogEndOffset: st.LogEndOffset, HighWatermark: st.LostCommittedTo}
	if msg := fmt.Sprintf("%d-%d", st.LogEndOffset, st.LostCommittedTo); r.missing != msg {
		m.opts.Logf("%s: LOST COMMITTED RECORDS: the log ends at %d, but offsets %d to %d may have been committed; this replica will not lead while a replica that may hold them is alive, and copies them back from its leader", r.dir, st.LogEndOffset, st.LogEndOffset, st.LostCommittedTo-1)
		r.missing = msg
	}
	if m.acceptsLoss(p, st) {
		return // applyRole takes it
	}
	if cur, ok := p.DamagedReplica(m.id); ok && cur.HighWatermark >= d.HighWatermark {
		return // reported
	}
	changed, err := m.c.ReportDamagedReplica(t.Name, t.ID, p.Partition, d, -1)
	if err != nil {
		m.opts.Logf("%s: report the lost records in the metadata: %v", r.dir, err)
	} else if changed {
		m.opts.Logf("%s: listed as damaged in topic %s's metadata, out of the ISR: the controller elects a replica that holds every committed record", r.dir, t.Name)
	}
}

// applyRole gives r the role the metadata says, when it changed. A replica
// that lacks records that may have been committed, or that the metadata
// lists as damaged, does not lead, whatever the metadata says, unless an
// unclean election chose it after the loss (see acceptsLoss): it would
// make its followers truncate those records.
func (m *Manager) applyRole(ctx context.Context, r *replica, t *coord.Topic, p coord.Partition, st logdir.State) {
	role := fmt.Sprintf("leader=%d epoch=%d isr=%v replicas=%v damaged=%v unclean=%d lacks=%v", p.Leader, p.LeaderEpoch, p.ISR, p.Replicas, p.Damaged, p.LastUncleanEpoch, lacksCommitted(st))
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
	if p.Leader == m.id && lacksCommitted(st) && m.acceptsLoss(p, st) {
		m.opts.Logf("%s: UNCLEAN LEADER ELECTION: leading at epoch %d with the log ending at %d; offsets %d to %d, which may have been committed, are lost", r.dir, epoch, st.LogEndOffset, st.LogEndOffset, st.LostCommittedTo-1)
		if err := r.log.ClearLostCommitted(); err != nil {
			m.opts.Logf("%s: %v", r.dir, err)
			return
		}
	} else if p.Leader == m.id && (lacksCommitted(st) || p.IsDamaged(m.id)) {
		if st.Leader {
			if err := r.log.BecomeFollower(st.LeaderEpoch); err != nil {
				m.opts.Logf("%s: step down: %v", r.dir, err)
				return
			}
		}
		if r.notLeading != p.LeaderEpoch {
			m.opts.Logf("%s: not leading at epoch %d: the replica lacks records that may have been committed; waiting for the controller to elect one that holds them", r.dir, epoch)
			r.notLeading = p.LeaderEpoch
		}
		r.role = role
		applied := m.roleOf(r, t, p)
		applied.IsLeader = false
		r.applied.Store(applied)
		return
	}
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
			go func() { defer m.wg.Done(); m.follow(fctx, r, p) }()
		}
	}
	r.role = role
	r.applied.Store(m.roleOf(r, t, p))
}

// applyRetention, expireProducers, checkpoint and shutdown run on the Run
// goroutine, the only writer of reps: they read it without mu, so that a
// lookup never waits for their I/O.

func (m *Manager) applyRetention() {
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
	now := time.Now().UnixMilli()
	for _, r := range m.reps {
		if n := r.log.ExpireProducers(now); n > 0 {
			m.opts.Logf("%s: forgot %d idempotent producers idle for %v", r.dir, n, m.opts.ProducerIDExpiration)
		}
	}
}

func (m *Manager) checkpoint() {
	for _, r := range m.reps {
		if err := r.log.Checkpoint(); err != nil {
			m.opts.Logf("%s: checkpoint: %v", r.dir, err)
		}
	}
}

func (m *Manager) shutdown() {
	for _, r := range m.reps {
		if r.cancel != nil {
			r.cancel()
		}
	}
	m.wg.Wait()
	// A recovery under way is not cut short (Recover cannot be): it is
	// waited for, and the replica closed unpublished.
	m.recoveries.Wait()
	for _, rec := range m.adoptRecovered() {
		if rec.r != nil {
			m.close(rec.r)
		}
	}
	for _, r := range m.reps {
		r.log.Checkpoint()
		// The producer state at the log end, whether or not idempotent
		// producers wrote: the next start replays nothing (Kafka's
		// snapshot in UnifiedLog.close).
		if err := r.log.SnapshotProducers(); err != nil {
			m.opts.Logf("%s: producer state snapshot: %v", r.dir, err)
		}
		r.log.Close()
	}
	m.mu.Lock()
	m.reps = map[string]*replica{}
	m.mu.Unlock()
}
