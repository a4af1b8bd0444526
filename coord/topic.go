package coord

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"mk/logdir"
)

// NoLeader is the leader of a partition none of whose replicas may lead.
const NoLeader = -1

// maxTopicNameLength is Kafka's limit: 249, so that "<topic>-<partition>"
// plus a deletion suffix stays within a 255-byte file name.
const maxTopicNameLength = 249

// Topic is meta/topics/<name>.json: one topic's identity, config overrides
// and partition state. A Topic returned by this package is a copy; change
// topics through UpdateTopic, AlterTopic and the controller.
type Topic struct {
	Name string `json:"name"`
	// ID is the topic id (Kafka's KIP-516): a topic deleted and created
	// again under the same name gets a new one, so data and offsets of the
	// old topic are never taken for the new one's.
	ID string `json:"topic_id"`
	// Version grows by one on every write of the file.
	Version int64 `json:"version"`
	// Config holds the overrides only; see ConfigValue for effective values.
	Config     map[string]string `json:"config"`
	Partitions []Partition       `json:"partitions"`
}

// Partition is the state of one partition of a topic.
type Partition struct {
	Partition int `json:"partition"`
	// Replicas are the brokers holding a replica, in assignment order; the
	// first is the preferred leader.
	Replicas []int `json:"replicas"`
	// Leader is the broker whose replica takes produce requests, or
	// NoLeader (-1).
	Leader int `json:"leader"`
	// LeaderEpoch grows by one on every change of leader. Appends are
	// fenced by it (design decision 7).
	LeaderEpoch int `json:"leader_epoch"`
	// ISR is the in-sync replica set. Never empty: when every member has
	// failed it keeps the last one, whose data is the best there is.
	ISR []int `json:"isr"`
	// Damaged lists the replicas known to lack records that may have been
	// committed (their log was damaged and cut, or found shorter than a
	// high watermark a follower had seen). Such a replica leaves the ISR
	// (unless it is its last member) and may not lead while a replica
	// that may hold the records is alive: only an unclean election can
	// make it leader. It is taken off the list when it joins the ISR
	// again, having copied the records back from a leader.
	Damaged []DamagedReplica `json:"damaged,omitempty"`
	// LastUncleanEpoch is the leader epoch of the latest unclean election
	// (0: none), which accepted the loss of records the new leader lacked:
	// a follower whose latest epoch is older may have to truncate records
	// it had seen committed, and is allowed to.
	LastUncleanEpoch int `json:"last_unclean_epoch,omitempty"`
}

// DamagedReplica is a replica known to lack records that may have been
// committed: Broker's replica ends at LogEndOffset, while offsets up to
// HighWatermark-1 may have been committed.
type DamagedReplica struct {
	Broker        int   `json:"broker"`
	LogEndOffset  int64 `json:"log_end_offset"`
	HighWatermark int64 `json:"high_watermark"`
}

// String says what the replica lacks, for messages.
func (d DamagedReplica) String() string {
	return fmt.Sprintf("broker %d's replica ends at offset %d and lacks offsets %d to %d, which may have been committed",
		d.Broker, d.LogEndOffset, d.LogEndOffset, d.HighWatermark-1)
}

// DamagedReplica returns the entry of broker's replica in p.Damaged.
func (p *Partition) DamagedReplica(broker int) (DamagedReplica, bool) {
	for _, d := range p.Damaged {
		if d.Broker == broker {
			return d, true
		}
	}
	return DamagedReplica{}, false
}

// IsDamaged reports whether broker's replica is listed in p.Damaged.
func (p *Partition) IsDamaged(broker int) bool {
	_, ok := p.DamagedReplica(broker)
	return ok
}

// MarkDamaged lists d in p.Damaged (replacing broker's entry, keeping the
// larger high watermark) and takes the broker out of the ISR unless it is
// its last member. It reports whether p changed.
func (p *Partition) MarkDamaged(d DamagedReplica) bool {
	changed := false
	if old, ok := p.DamagedReplica(d.Broker); ok {
		d.HighWatermark = max(d.HighWatermark, old.HighWatermark)
		if old != d {
			p.ClearDamaged(d.Broker)
			changed = true
		}
	} else {
		changed = true
	}
	if changed {
		p.Damaged = append(p.Damaged, d)
		slices.SortFunc(p.Damaged, func(a, b DamagedReplica) int { return cmp.Compare(a.Broker, b.Broker) })
	}
	if len(p.ISR) > 1 && slices.Contains(p.ISR, d.Broker) {
		p.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(x int) bool { return x == d.Broker })
		changed = true
	}
	return changed
}

// ClearDamaged takes broker off p.Damaged.
func (p *Partition) ClearDamaged(broker int) {
	p.Damaged = slices.DeleteFunc(slices.Clone(p.Damaged), func(d DamagedReplica) bool { return d.Broker == broker })
	if len(p.Damaged) == 0 {
		p.Damaged = nil
	}
}

// Clone returns a deep copy of t.
func (t *Topic) Clone() *Topic {
	u := *t
	u.Config = maps.Clone(t.Config)
	if u.Config == nil {
		u.Config = map[string]string{}
	}
	u.Partitions = make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		p.Replicas = slices.Clone(p.Replicas)
		p.ISR = slices.Clone(p.ISR)
		p.Damaged = slices.Clone(p.Damaged)
		u.Partitions[i] = p
	}
	return &u
}

// ReplicationFactor returns the number of replicas of partition 0.
func (t *Topic) ReplicationFactor() int {
	if len(t.Partitions) == 0 {
		return 0
	}
	return len(t.Partitions[0].Replicas)
}

// ValidateTopicName applies Kafka's rules (Topic.validate): 1 to 249
// characters of ASCII letters, digits, '.', '_' and '-', and not "." or
// "..". The error is ErrInvalidTopic: `invalid topic name "x": REASON`.
func ValidateTopicName(name string) error {
	bad := func(reason string) error {
		return newError(ErrInvalidTopic, "invalid topic name %q: %s", name, reason)
	}
	switch {
	case name == "":
		return bad("it is empty")
	case name == "." || name == "..":
		return bad(`it cannot be "." or ".."`)
	case len(name) > maxTopicNameLength:
		return bad(fmt.Sprintf("it is %d characters long; the limit is %d", len(name), maxTopicNameLength))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return bad("use only ASCII letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// TopicNamesCollide reports whether two different names would collide in
// Kafka: they are equal once every '.' is read as '_' (Kafka's metric names
// make the two characters the same).
func TopicNamesCollide(a, b string) bool {
	return a != b && strings.ReplaceAll(a, ".", "_") == strings.ReplaceAll(b, ".", "_")
}

// Topic returns the topic named name, or ErrUnknownTopic ("unknown topic
// NAME").
func (c *Cluster) Topic(name string) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	return c.readTopic(name)
}

// readTopic reads and checks one topic file. The topic is unknown
// (ErrUnknownTopic) only when meta/topics holds no entry of its name: a
// symbolic link is followed, and one whose target is missing, like an entry
// that is not a regular file (a directory, a FIFO), is an unreadable topic
// file, not a deleted topic.
func (c *Cluster) readTopic(name string) (*Topic, error) {
	path := c.topicPath(name)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr == nil {
			return nil, corruptError(path, errors.New("it is a symbolic link to a file that does not exist"))
		}
		return nil, newError(ErrUnknownTopic, "unknown topic %s", name)
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		// Not read: a FIFO would block the reader forever.
		return nil, corruptError(path, fmt.Errorf("it is not a regular file (%s)", fi.Mode().Type()))
	}
	var t Topic
	if err := readJSON(path, &t); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, newError(ErrUnknownTopic, "unknown topic %s", name)
		}
		return nil, err
	}
	if t.Config == nil {
		t.Config = map[string]string{}
	}
	if err := checkTopic(&t); err != nil {
		return nil, corruptError(path, err)
	}
	if t.Name != name {
		return nil, corruptError(path, fmt.Errorf("it holds topic %q", t.Name))
	}
	return &t, nil
}

// checkTopic checks the invariants of a topic's state.
func checkTopic(t *Topic) error {
	if err := ValidateTopicName(t.Name); err != nil {
		return err
	}
	if t.ID == "" {
		return errors.New("no topic_id")
	}
	if t.Version < 1 {
		return fmt.Errorf("version %d is below 1", t.Version)
	}
	if len(t.Partitions) == 0 {
		return errors.New("no partitions")
	}
	for k, v := range t.Config {
		if _, known := configSpecs[k]; !known {
			continue // written by a newer mk; ignored here
		}
		if _, err := NormalizeConfig(k, v); err != nil {
			return err
		}
	}
	for i, p := range t.Partitions {
		if p.Partition != i {
			return fmt.Errorf("partition %d is listed at position %d", p.Partition, i)
		}
		if len(p.Replicas) == 0 {
			return fmt.Errorf("partition %d has no replicas", i)
		}
		seen := map[int]bool{}
		for _, r := range p.Replicas {
			if r < 0 || seen[r] {
				return fmt.Errorf("partition %d: replicas %v must be distinct broker ids", i, p.Replicas)
			}
			seen[r] = true
		}
		if p.Leader != NoLeader && !seen[p.Leader] {
			return fmt.Errorf("partition %d: leader %d is not a replica", i, p.Leader)
		}
		if p.LeaderEpoch < 0 {
			return fmt.Errorf("partition %d: negative leader_epoch", i)
		}
		if len(p.ISR) == 0 {
			return fmt.Errorf("partition %d: empty isr", i)
		}
		inISR := map[int]bool{}
		for _, r := range p.ISR {
			if !seen[r] || inISR[r] {
				return fmt.Errorf("partition %d: isr %v must be distinct replicas", i, p.ISR)
			}
			inISR[r] = true
		}
		damaged := map[int]bool{}
		for _, d := range p.Damaged {
			if !seen[d.Broker] || damaged[d.Broker] || d.LogEndOffset < 0 || d.HighWatermark <= d.LogEndOffset {
				return fmt.Errorf("partition %d: damaged replica %+v must be a replica listed once, lacking offsets", i, d)
			}
			damaged[d.Broker] = true
		}
		if p.LastUncleanEpoch < 0 || p.LastUncleanEpoch > p.LeaderEpoch {
			return fmt.Errorf("partition %d: last_unclean_epoch %d must be between 0 and the leader epoch", i, p.LastUncleanEpoch)
		}
	}
	return nil
}

// Topics returns every topic, sorted by name, or the error of the first
// topic file that cannot be read. Files whose names are not topic names
// (editor leftovers, temporary files) are ignored.
func (c *Cluster) Topics() ([]*Topic, error) {
	topics, unreadable, err := c.ListTopics()
	if err != nil {
		return nil, err
	}
	for _, u := range unreadable {
		return nil, u.Err
	}
	return topics, nil
}

// UnreadableTopic is a topic file that exists but cannot be read.
type UnreadableTopic struct {
	Name string
	Err  error
}

// ListTopics reads every topic file: the topics it could read and the
// files it could not (corrupt, unreadable, a symbolic link to nothing, not
// a regular file), each sorted by name; err is for the listing itself.
//
// It is the one listing that clients, brokers and the controller use, so
// that they agree on which topics exist. A topic exists while meta/topics
// holds an entry <name>.json for a valid topic name, whatever that entry
// is, and is deleted only once the entry is gone: a topic whose file cannot
// be read is not a deleted topic, and nothing may delete its data.
func (c *Cluster) ListTopics() (topics []*Topic, unreadable []UnreadableTopic, err error) {
	names, err := c.topicNames()
	if err != nil {
		return nil, nil, err
	}
	topics = make([]*Topic, 0, len(names))
	for _, name := range names {
		t, err := c.readTopic(name)
		switch {
		case errors.Is(err, ErrUnknownTopic):
			// deleted since the listing
		case err != nil:
			unreadable = append(unreadable, UnreadableTopic{name, err})
		default:
			topics = append(topics, t)
		}
	}
	return topics, unreadable, nil
}

// topicNames lists the names of the topic files, sorted: every entry
// <name>.json whose name is a valid topic name, of any file type (see
// ListTopics).
func (c *Cluster) topicNames() ([]string, error) {
	entries, err := os.ReadDir(c.topicsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && ValidateTopicName(name) == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// CreateTopic creates a topic of partitions partitions, each with
// replicationFactor replicas placed over the live brokers (see assign.go),
// led by its first replica, with the ISR equal to the replicas and leader
// epoch 0. As in Kafka's CreateTopics, -1 for partitions or
// replicationFactor means the cluster default (num.partitions,
// default.replication.factor). config holds overrides, checked and
// normalized by ValidateConfig. CreateTopicWith takes the rest of what
// Kafka's CreateTopics can ask (manual assignment, validate only).
func (c *Cluster) CreateTopic(name string, partitions, replicationFactor int, config map[string]string) (*Topic, error) {
	return c.CreateTopicWith(name, TopicSpec{Partitions: partitions, ReplicationFactor: replicationFactor, Config: config})
}

// brokersForReplicas returns the live brokers, checking that there are at
// least replicationFactor of them.
func (c *Cluster) brokersForReplicas(replicationFactor int) ([]int, error) {
	live, err := c.RequireLiveBroker()
	if err != nil {
		return nil, err
	}
	if replicationFactor > len(live) {
		return nil, newError(ErrInvalidReplicationFactor, "replication factor %d is larger than the %d live brokers", replicationFactor, len(live))
	}
	return live, nil
}

// freshPartitions returns new partitions first..first+count-1: led by their
// first replica, ISR = replicas, leader epoch 0.
func freshPartitions(topic string, brokers []int, first, count, replicationFactor int) []Partition {
	var ps []Partition
	for i, replicas := range assignReplicas(topic, brokers, first, count, replicationFactor) {
		ps = append(ps, Partition{
			Partition: first + i,
			Replicas:  replicas,
			Leader:    replicas[0],
			ISR:       slices.Clone(replicas),
		})
	}
	return ps
}

// AlterTopic changes a topic: newPartitions above the current count adds
// partitions (placed as CreateTopic would, continuing its pattern, with
// the replication factor of partition 0); 0 or the current count leaves
// them alone; fewer is ErrInvalidPartitions, as in Kafka. set adds or
// replaces config overrides, del removes overrides (back to the default).
func (c *Cluster) AlterTopic(name string, newPartitions int, set map[string]string, del []string) (*Topic, error) {
	setCfg, err := CheckTopicChange(name, newPartitions, set, del)
	if err != nil {
		return nil, err
	}
	return c.UpdateTopic(name, func(t *Topic) error {
		if have := len(t.Partitions); newPartitions > have {
			if err := checkPartitionCount(name, newPartitions, newPartitions-have); err != nil {
				return err
			}
			rf := t.ReplicationFactor()
			brokers, err := c.brokersForReplicas(rf)
			if err != nil {
				return err
			}
			added := freshPartitions(name, brokers, have, newPartitions-have, rf)
			if err := c.checkBrokerCapacity(c.readableTopics(), added); err != nil {
				return err
			}
			t.Partitions = append(t.Partitions, added...)
		} else if err := CheckPartitionShrink(name, have, newPartitions); err != nil {
			return err
		}
		maps.Copy(t.Config, setCfg)
		for _, k := range del {
			delete(t.Config, k)
		}
		return checkConfigTogether(t.Config)
	})
}

// CheckTopicChange makes AlterTopic's checks of a change that need not
// read the topic: the configs set (returned normalized by ValidateConfig),
// the keys deleted, and the partition count. It reads and writes nothing,
// so a client checks a change with it before sending it to a broker.
func CheckTopicChange(name string, newPartitions int, set map[string]string, del []string) (map[string]string, error) {
	setCfg, err := ValidateConfig(set)
	if err != nil {
		return nil, err
	}
	for _, k := range del {
		if _, ok := configSpecs[k]; !ok {
			return nil, newError(ErrInvalidConfig, "unknown topic config %q; known keys are %s", k, strings.Join(ConfigKeys(), ", "))
		}
		if _, ok := setCfg[k]; ok {
			return nil, newError(ErrInvalidConfig, "topic config %s is both set and deleted; do one or the other", k)
		}
	}
	if newPartitions < 0 {
		return nil, newError(ErrInvalidPartitions, "invalid number of partitions %d for topic %s: it must be at least 1", newPartitions, name)
	}
	if newPartitions > MaxPartitionsPerTopic() {
		// Whatever the topic has now: refused before anything is read.
		if err := checkPartitionCount(name, newPartitions, 0); err != nil {
			return nil, err
		}
	}
	return setCfg, nil
}

// CheckPartitionShrink is AlterTopic's refusal of fewer partitions than
// the topic has (have): partitions can only be added, as in Kafka.
func CheckPartitionShrink(name string, have, newPartitions int) error {
	if newPartitions != 0 && newPartitions < have {
		return newError(ErrInvalidPartitions, "topic %s has %d partitions and cannot shrink to %d: partitions can only be added", name, have, newPartitions)
	}
	return nil
}

// UpdateTopic is the read-modify-write of a topic file: under meta/lock it
// reads the topic, lets fn change it, checks the result and writes it with
// the version increased by one. fn sees the latest state, so it should
// check what it relies on (a leader epoch, say) and return an error to
// write nothing. The result may not rename the topic, change its id,
// remove partitions or move a leader epoch back (ErrInvalidUpdate).
// fn runs under meta/lock and must not call methods that write metadata.
func (c *Cluster) UpdateTopic(name string, fn func(*Topic) error) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	var out *Topic
	err := c.withMetaLock(func() error {
		t, err := c.readTopic(name)
		if err != nil {
			return err
		}
		u := t.Clone()
		if err := fn(u); err != nil {
			return err
		}
		if err := checkUpdate(t, u); err != nil {
			return err
		}
		u.Version = t.Version + 1
		out = u
		return writeJSON(c.topicPath(name), u)
	})
	return out, err
}

// errNoChange makes UpdateTopic write nothing.
var errNoChange = errors.New("no change")

// ReportDamagedReplica lists replica d of partition of topic (whose id
// must be topicID) as damaged: lacking records that may have been
// committed (see Partition.Damaged), and out of the ISR unless it is its
// last member. With leaderEpoch >= 0 it does so only while the partition
// is at that leader epoch (a follower reporting its leader). It reports
// whether the topic changed; the controller then moves leadership away
// from the replica.
func (c *Cluster) ReportDamagedReplica(topic, topicID string, partition int, d DamagedReplica, leaderEpoch int) (bool, error) {
	_, err := c.UpdateTopic(topic, func(t *Topic) error {
		if t.ID != topicID || partition >= len(t.Partitions) {
			return errNoChange
		}
		p := &t.Partitions[partition]
		if leaderEpoch >= 0 && p.LeaderEpoch != leaderEpoch || !slices.Contains(p.Replicas, d.Broker) || !p.MarkDamaged(d) {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

// checkUpdate checks that next is a valid successor of prev.
func checkUpdate(prev, next *Topic) error {
	bad := func(format string, args ...any) error {
		return newError(ErrInvalidUpdate, "invalid update of topic %s: "+format, append([]any{prev.Name}, args...)...)
	}
	if next.Name != prev.Name || next.ID != prev.ID {
		return bad("name and topic_id cannot change")
	}
	if len(next.Partitions) < len(prev.Partitions) {
		return bad("partitions cannot be removed")
	}
	for i, p := range prev.Partitions {
		if next.Partitions[i].LeaderEpoch < p.LeaderEpoch {
			return bad("leader epoch of partition %d cannot go back from %d to %d", i, p.LeaderEpoch, next.Partitions[i].LeaderEpoch)
		}
		if next.Partitions[i].LastUncleanEpoch < p.LastUncleanEpoch {
			return bad("last unclean epoch of partition %d cannot go back from %d to %d", i, p.LastUncleanEpoch, next.Partitions[i].LastUncleanEpoch)
		}
	}
	next.Version = prev.Version + 1
	if err := checkTopic(next); err != nil {
		return bad("%v", err)
	}
	return nil
}

// DeleteTopic deletes a topic: it removes the topic file under meta/lock,
// then removes the topic's partition directories from every broker's data
// directory. Each directory is first renamed to
// <topic>-<partition>.<topic_id>-delete (Kafka's naming) so that the name
// is free at once for a new topic of the same name. A broker that still
// has a partition open keeps writing to the removed files until it sees
// the topic gone; brokers must compare the topic id of a partition
// directory with the topic's before using it.
//
// A directory whose partition.metadata names another topic id (a topic of
// the same name created since) is not touched, and neither is one whose
// partition.metadata cannot be read: whose data it holds is then unknown.
// The error names the directories kept. A topic whose own file is corrupt
// is deleted too (its id is then unknown, and its directories are known
// by their name only).
func (c *Cluster) DeleteTopic(name string) error {
	return c.deleteTopic(name, "")
}

// DeleteTopicID deletes topic name only if its topic id is id (Kafka's
// DeleteTopics by topic id): a topic deleted and created again under the
// same name since the caller looked is not touched, and the error is
// ErrUnknownTopic.
func (c *Cluster) DeleteTopicID(name, id string) error {
	return c.deleteTopic(name, id)
}

func (c *Cluster) deleteTopic(name, id string) error {
	if err := ValidateTopicName(name); err != nil {
		return err
	}
	var t *Topic
	err := c.withMetaLock(func() error {
		var err error
		if t, err = c.readTopic(name); err != nil && !errors.Is(err, ErrCorruptMetadata) {
			return err
		}
		if id != "" && (t == nil || t.ID != id) {
			return newError(ErrUnknownTopic, "unknown topic id %s", id)
		}
		if err := os.Remove(c.topicPath(name)); err != nil {
			return err
		}
		return logdir.SyncDir(c.topicsDir())
	})
	if err != nil {
		return err
	}
	id = "" // unknown unless the file could be read
	if t != nil {
		id = t.ID
	}
	return c.removePartitionDirs(name, id)
}

// removePartitionDirs removes <topic>-<n> from every broker data directory
// (id "" when the topic's id is unknown).
func (c *Cluster) removePartitionDirs(topic, id string) error {
	var kept []string
	brokerDirs, err := os.ReadDir(filepath.Join(c.dir, "brokers"))
	if err != nil {
		return nil // no data directories: nothing to remove
	}
	var firstErr error
	for _, b := range brokerDirs {
		bdir := filepath.Join(c.dir, "brokers", b.Name())
		entries, err := os.ReadDir(bdir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			rest, ok := strings.CutPrefix(e.Name(), topic+"-")
			if !ok || !e.IsDir() {
				continue
			}
			if n, err := strconv.Atoi(rest); err != nil || n < 0 || strconv.Itoa(n) != rest {
				continue // another topic's directory, like <topic>-x-0
			}
			dir := filepath.Join(bdir, e.Name())
			if got, err := logdir.ReadPartitionMetadata(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				kept = append(kept, dir)
				firstErr = cmp.Or(firstErr, err)
				continue
			} else if err == nil && id != "" && got != id {
				continue // a new topic's replica
			}
			// A short name, so that a 249-character topic fits in 255 bytes.
			gone := filepath.Join(bdir, "."+cmp.Or(id, "unknown")+"-"+rest+"-delete")
			if err := os.Rename(dir, gone); err != nil {
				if !errors.Is(err, os.ErrNotExist) { // removed by someone else first
					firstErr = cmp.Or(firstErr, err)
				}
				continue
			}
			firstErr = cmp.Or(firstErr, os.RemoveAll(gone))
		}
	}
	if len(kept) > 0 {
		return fmt.Errorf("topic %s deleted but %s kept: %w; remove what is not needed by hand", topic, strings.Join(kept, ", "), firstErr)
	}
	if firstErr != nil {
		return fmt.Errorf("topic %s deleted but its data is not all removed: %w", topic, firstErr)
	}
	return nil
}
