package coord

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Consumer groups (design decision 6).
//
//	meta/groups/<group>/group.json            generation, strategy, members, assignment
//	meta/groups/<group>/lock                  flock: every read-modify-write in the group
//	meta/groups/<group>/members/<id>.lock     flock held by the live member (its liveness)
//	meta/groups/<group>/heartbeats/<id>       mtime touched by the live member
//	meta/groups/<group>/owners/<t>-<p>.lock   flock held by the member consuming partition p of t
//	meta/groups/<group>/owners/<t>-<p>.json   who took that lock, at which generation
//	meta/groups/<group>/offsets/<topic>.json  committed offsets of the topic's partitions
//
// Member ids and <t>-<p> are written through fileName, which keeps every
// file name within NAME_MAX and its directory.
//
// Membership is a lock, like a broker's: the kernel drops a member's lock
// when it dies, and the other members, each blocked in flock(2) on every
// other member's lock, learn of the death at once and rebalance. A
// stopped member keeps its lock, so members also heartbeat, and one whose
// heartbeat is older than its session timeout is expelled: removed from
// the group, its ownership locks broken (the lock files are unlinked, so the
// next owner locks a new inode while the stopped process holds the old one).
//
// The assignment (range, roundrobin or sticky) says who should own what;
// the ownership lock makes it impossible for two members to consume one
// partition at once, whatever their views of the group. A member commits
// an offset only while the group names it the partition's owner, checked
// under the group lock, so an expelled member that wakes up cannot commit.
// Generations only grow: every change of membership, subscription or
// partition count bumps it.

// Assignment strategies (partition.assignment.strategy).
const (
	StrategyRange      = "range"
	StrategyRoundRobin = "roundrobin"
	StrategySticky     = "sticky"
)

// GroupSessionTimeout is the default session timeout of a group member
// (Kafka's session.timeout.ms).
const GroupSessionTimeout = 45 * time.Second

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(tp.Partition) }

// Member is one consumer in a group.
type Member struct {
	ID               string   `json:"member_id"`
	ClientID         string   `json:"client_id"`
	Host             string   `json:"host"`
	Pid              int      `json:"pid"`
	Topics           []string `json:"topics"`
	SessionTimeoutMs int64    `json:"session_timeout_ms"`
	Joined           string   `json:"joined"`
}

// Group is meta/groups/<name>/group.json.
type Group struct {
	Name       string `json:"group"`
	Generation int64  `json:"generation"`
	Strategy   string `json:"strategy"`
	// Members, sorted by id.
	Members []Member `json:"members"`
	// Assignment maps a member id to the partitions it should own.
	Assignment map[string][]TopicPartition `json:"assignment"`
	// Partitions is the partition count of each subscribed topic the
	// assignment was made for (-1: the topic does not exist).
	Partitions map[string]int `json:"partitions"`
	// Kafka is the state of the Kafka group coordinator when Kafka
	// clients use the group (group_kafka.go).
	Kafka *KafkaGroup `json:"kafka,omitempty"`
}

// Member returns the member with id, or nil.
func (g *Group) Member(id string) *Member {
	for i := range g.Members {
		if g.Members[i].ID == id {
			return &g.Members[i]
		}
	}
	return nil
}

// Topics lists the topics the members subscribe to, sorted.
func (g *Group) Topics() []string {
	var ts []string
	for _, m := range g.Members {
		ts = append(ts, m.Topics...)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// Committed is one committed offset.
type Committed struct {
	Partition  int    `json:"partition"`
	Offset     int64  `json:"offset"`
	Generation int64  `json:"generation"`
	Member     string `json:"member"`
	Committed  string `json:"committed"` // RFC 3339
	// LeaderEpoch and Metadata are what a Kafka client committed with the
	// offset (group_kafka.go); mk's own consumers commit neither.
	LeaderEpoch *int32 `json:"leader_epoch,omitempty"`
	Metadata    string `json:"metadata,omitempty"`
}

type offsetsFile struct {
	Topic      string      `json:"topic"`
	TopicID    string      `json:"topic_id"`
	Partitions []Committed `json:"partitions"`
}

// ownerFile is owners/<t>-<p>.json.
type ownerFile struct {
	// Topic and Partition name the partition in full (the file name may be
	// shortened: see fileName).
	Topic      string `json:"topic,omitempty"`
	Partition  int    `json:"partition"`
	Member     string `json:"member"`
	Generation int64  `json:"generation"`
	Acquired   string `json:"acquired"`
}

func (c *Cluster) groupDir(name string) string      { return filepath.Join(c.GroupsDir(), name) }
func (c *Cluster) groupPath(name string) string     { return filepath.Join(c.groupDir(name), "group.json") }
func (c *Cluster) groupLockPath(name string) string { return filepath.Join(c.groupDir(name), "lock") }

// The files named after member ids (any string a client gives) and topic
// partitions go through fileName, so they fit in NAME_MAX and stay in
// their directory; the full names are in group.json and the owner files.
func (c *Cluster) memberLockPath(group, id string) string {
	return filepath.Join(c.groupDir(group), "members", fileName(id, ".lock"))
}
func (c *Cluster) memberHeartbeatPath(group, id string) string {
	return filepath.Join(c.groupDir(group), "heartbeats", fileName(id, ""))
}
func (c *Cluster) ownerLockPath(group string, tp TopicPartition) string {
	return filepath.Join(c.groupDir(group), "owners", fileName(tp.String(), ".lock"))
}
func (c *Cluster) ownerPath(group string, tp TopicPartition) string {
	return filepath.Join(c.groupDir(group), "owners", fileName(tp.String(), ".json"))
}
func (c *Cluster) offsetsPath(group, topic string) string {
	return filepath.Join(c.groupDir(group), "offsets", fileName(topic, ".json"))
}

// GroupDir is the directory of group name (to watch).
func (c *Cluster) GroupDir(name string) string { return c.groupDir(name) }

// ValidateGroupName: a group names a directory, so it takes the topic
// name's characters (Kafka itself allows any string).
func ValidateGroupName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicNameLength {
		return newError(ErrInvalidGroup, "invalid group name %q: use 1 to 249 ASCII letters, digits, '.', '_' and '-'", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return newError(ErrInvalidGroup, "invalid group name %q: use only ASCII letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// Group reads a group. ErrUnknownGroup if it does not exist.
func (c *Cluster) Group(name string) (*Group, error) {
	if err := ValidateGroupName(name); err != nil {
		return nil, err
	}
	var g Group
	err := readJSON(c.groupPath(name), &g)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(c.groupDir(name)); serr == nil {
			// Offsets but no members ever written (reset-offsets on a new group).
			return &Group{Name: name, Assignment: map[string][]TopicPartition{}, Partitions: map[string]int{}}, nil
		}
		return nil, newError(ErrUnknownGroup, "unknown group %s", name)
	}
	if err != nil {
		return nil, err
	}
	if g.Assignment == nil {
		g.Assignment = map[string][]TopicPartition{}
	}
	if g.Partitions == nil {
		g.Partitions = map[string]int{}
	}
	return &g, nil
}

// Groups lists every group, sorted by name.
func (c *Cluster) Groups() ([]*Group, error) {
	ents, err := os.ReadDir(c.GroupsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []*Group
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		g, err := c.Group(e.Name())
		if errors.Is(err, ErrUnknownGroup) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// withGroup runs fn on the group under its lock and writes the group back
// if fn returns changed.
func (c *Cluster) withGroup(name string, fn func(g *Group) (changed bool, err error)) (*Group, error) {
	if err := ValidateGroupName(name); err != nil {
		return nil, err
	}
	dir := c.groupDir(name)
	for _, sub := range []string{"members", "heartbeats", "owners", "offsets"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	var out *Group
	err := c.withFileLock(c.groupLockPath(name), func() error {
		g, err := c.Group(name)
		if err != nil {
			return err
		}
		changed, err := fn(g)
		if err != nil {
			return err
		}
		if changed {
			if err := writeJSON(c.groupPath(name), g); err != nil {
				return err
			}
		}
		out = g
		return nil
	})
	return out, err
}

// MemberState is a member's liveness.
func (c *Cluster) memberAlive(group string, m Member) bool {
	held, err := lockHeld(c.memberLockPath(group, m.ID))
	if err != nil || !held {
		return false
	}
	fi, err := os.Stat(c.memberHeartbeatPath(group, m.ID))
	if err != nil {
		return false
	}
	timeout := time.Duration(m.SessionTimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = GroupSessionTimeout
	}
	return time.Since(fi.ModTime()) < timeout
}

// LiveMembers returns the ids of the group's members that are alive.
func (c *Cluster) LiveMembers(name string) ([]string, error) {
	g, err := c.Group(name)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range g.Members {
		if c.memberAlive(name, m) {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// GroupMember is this process's membership in a group.
type GroupMember struct {
	c       *Cluster
	group   string
	id      string
	lock    *fileLock
	stop    chan struct{}
	done    sync.WaitGroup
	timeout time.Duration
}

// ID is the member id.
func (m *GroupMember) ID() string { return m.id }

// Group is the group's name.
func (m *GroupMember) Group() string { return m.group }

// JoinGroup makes this process a member of group name, subscribed to
// topics, creating the group on first use. The member holds its lock and
// heartbeats until Leave. The group's generation grows and the assignment
// is recomputed with strategy (which must match the group's when it has
// members).
func (c *Cluster) JoinGroup(name string, m Member, strategy string) (*GroupMember, error) {
	switch strategy {
	case StrategyRange, StrategyRoundRobin, StrategySticky:
	default:
		return nil, newError(ErrInvalidConfig, "unknown assignment strategy %q: use range, roundrobin or sticky", strategy)
	}
	if err := ValidateGroupName(name); err != nil {
		return nil, err
	}
	if m.ID == "" {
		var b [6]byte
		rand.Read(b[:])
		client := m.ClientID
		if client == "" {
			client = "mk"
		}
		m.ID = client + "-" + hex.EncodeToString(b[:])
	}
	if m.SessionTimeoutMs <= 0 {
		m.SessionTimeoutMs = GroupSessionTimeout.Milliseconds()
	}
	m.Joined = time.Now().UTC().Format(time.RFC3339Nano)
	if m.Pid == 0 {
		m.Pid = os.Getpid()
	}
	if m.Host == "" {
		m.Host, _ = os.Hostname()
	}
	gm := &GroupMember{c: c, group: name, id: m.ID, stop: make(chan struct{}), timeout: time.Duration(m.SessionTimeoutMs) * time.Millisecond}
	// Lock and heartbeat first, so the member is alive before anyone can see it.
	if _, err := c.withGroup(name, func(*Group) (bool, error) { return false, nil }); err != nil {
		return nil, err
	}
	lock, err := tryLock(c.memberLockPath(name, m.ID))
	if err != nil || lock == nil {
		return nil, fmt.Errorf("lock member %s: %v", m.ID, err)
	}
	gm.lock = lock
	if err := touch(c.memberHeartbeatPath(name, m.ID)); err != nil {
		lock.unlock()
		return nil, err
	}
	gm.done.Add(1)
	go gm.heartbeat()
	_, err = c.withGroup(name, func(g *Group) (bool, error) {
		if err := checkNoKafkaMembersLocked(g); err != nil {
			return false, err
		}
		if len(g.Members) > 0 && g.Strategy != strategy {
			return false, newError(ErrInvalidConfig, "group %s uses the %s strategy; this consumer asked for %s", name, g.Strategy, strategy)
		}
		g.Strategy = strategy
		g.Members = append(g.Members, m)
		sort.Slice(g.Members, func(i, j int) bool { return g.Members[i].ID < g.Members[j].ID })
		c.expireLocked(g)
		return true, c.reassignLocked(g)
	})
	if err != nil {
		gm.release()
		return nil, err
	}
	return gm, nil
}

// Expelled reports whether the group removed this member (its heartbeat
// was older than its session timeout: the process was stopped): its member
// lock file, and with it every ownership lock it held, was unlinked. It
// costs two stats, so a consumer checks it before every round of fetches
// and stops consuming what is no longer its own.
func (m *GroupMember) Expelled() bool {
	held, err1 := m.lock.stat()
	now, err2 := os.Stat(m.c.memberLockPath(m.group, m.id))
	return err1 == nil && (errors.Is(err2, os.ErrNotExist) || err2 == nil && !os.SameFile(held, now))
}

func (m *GroupMember) heartbeat() {
	defer m.done.Done()
	interval := min(max(m.timeout/10, 10*time.Millisecond), time.Second)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			touch(m.c.memberHeartbeatPath(m.group, m.id))
		}
	}
}

func (m *GroupMember) release() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.done.Wait()
	m.lock.unlock()
	os.Remove(m.c.memberHeartbeatPath(m.group, m.id))
}

// Leave removes the member from its group (a rebalance for the others) and
// releases its lock. Call it after releasing the partitions it owns.
func (m *GroupMember) Leave() error {
	_, err := m.c.withGroup(m.group, func(g *Group) (bool, error) {
		i := slices.IndexFunc(g.Members, func(x Member) bool { return x.ID == m.id })
		if i < 0 {
			return false, nil
		}
		g.Members = slices.Delete(g.Members, i, i+1)
		delete(g.Assignment, m.id)
		return true, m.c.reassignLocked(g)
	})
	m.release()
	os.Remove(m.c.memberLockPath(m.group, m.id))
	return err
}

// Rebalance is what every member does on a wake: drop dead and expired
// members, and recompute the assignment when membership or the partition
// counts of subscribed topics changed. It returns the current group.
func (c *Cluster) Rebalance(name string) (*Group, error) {
	// Most wakes find nothing to do (every member wakes on every change of
	// group.json): look without the group lock first, since the file is
	// replaced atomically, and take the lock only to change something.
	if g, err := c.Group(name); err == nil && !c.partitionsChanged(g) &&
		!slices.ContainsFunc(g.Members, func(m Member) bool { return !c.memberAlive(name, m) }) {
		return g, nil
	}
	return c.withGroup(name, func(g *Group) (bool, error) {
		changed := c.expireLocked(g)
		if changed || c.partitionsChanged(g) {
			return true, c.reassignLocked(g)
		}
		return false, nil
	})
}

// expireLocked removes members that are dead (lock released) or expired
// (heartbeat older than their session timeout), breaking the ownership
// locks an expired member may still hold.
func (c *Cluster) expireLocked(g *Group) bool {
	changed := false
	keep := g.Members[:0]
	for _, m := range g.Members {
		if c.memberAlive(g.Name, m) {
			keep = append(keep, m)
			continue
		}
		changed = true
		if held, _ := lockHeld(c.memberLockPath(g.Name, m.ID)); held {
			// Expired, not dead: a stopped process still holds its locks.
			// (A dead one's were released by the kernel, and another
			// member may be taking them right now.)
			c.breakOwnershipLocked(g.Name, m.ID)
		}
		delete(g.Assignment, m.ID)
		os.Remove(c.memberLockPath(g.Name, m.ID))
		os.Remove(c.memberHeartbeatPath(g.Name, m.ID))
	}
	g.Members = keep
	return changed
}

// breakOwnershipLocked breaks every ownership lock member took: not only
// those of its last assignment, since a member stopped before it released
// a partition it lost still holds that one too. Unlinking the lock file
// means the next owner locks a new inode, whatever a stopped process still
// holds.
func (c *Cluster) breakOwnershipLocked(group, member string) {
	files, _ := filepath.Glob(filepath.Join(c.groupDir(group), "owners", "*.json"))
	for _, f := range files {
		var o ownerFile
		if readJSON(f, &o) == nil && o.Member == member {
			os.Remove(strings.TrimSuffix(f, ".json") + ".lock")
			os.Remove(f)
		}
	}
}

// partitionsChanged reports whether a subscribed topic's partition count
// differs from the one the assignment was made for.
func (c *Cluster) partitionsChanged(g *Group) bool {
	for _, t := range g.Topics() {
		n := -1
		if top, err := c.Topic(t); err == nil {
			n = len(top.Partitions)
		}
		if prev, ok := g.Partitions[t]; !ok || prev != n {
			return true
		}
	}
	return false
}

// reassignLocked bumps the generation and recomputes the assignment.
func (c *Cluster) reassignLocked(g *Group) error {
	counts := map[string]int{}
	for _, t := range g.Topics() {
		counts[t] = -1
		if top, err := c.Topic(t); err == nil {
			counts[t] = len(top.Partitions)
		} else if !errors.Is(err, ErrUnknownTopic) {
			return err
		}
	}
	g.Generation++
	g.Partitions = counts
	g.Assignment = Assign(g.Strategy, g.Members, counts, g.Assignment)
	return nil
}

// Ownership is a held ownership lock of one partition for a group.
type Ownership struct {
	lock *fileLock
	TP   TopicPartition
}

// Release gives the partition up.
func (o *Ownership) Release() {
	if o != nil {
		o.lock.unlock()
	}
}

// AcquireOwnership takes partition tp for member at generation without
// waiting. It returns (nil, nil) while another member holds it. The lock
// file may be unlinked (broken) by an expulsion; the inode check makes
// sure the lock taken is the one at the path. The check and the owner
// file's write are one step under the group lock, where expulsions break
// locks: otherwise a lock just taken, its owner file still naming the
// expelled member, could be broken under its new owner.
func (c *Cluster) AcquireOwnership(group string, tp TopicPartition, member string, generation int64) (*Ownership, error) {
	path := c.ownerLockPath(group, tp)
	for attempt := 0; attempt < 3; attempt++ {
		l, err := tryLock(path)
		if err != nil || l == nil {
			return nil, err
		}
		taken := false
		err = c.withFileLock(c.groupLockPath(group), func() error {
			held, err1 := l.stat()
			now, err2 := os.Stat(path)
			if err1 != nil || err2 != nil || !os.SameFile(held, now) {
				return nil // broken under us: lock the new file
			}
			o := ownerFile{Topic: tp.Topic, Partition: tp.Partition, Member: member, Generation: generation, Acquired: time.Now().UTC().Format(time.RFC3339Nano)}
			taken = true
			return writeJSONVolatile(c.ownerPath(group, tp), o)
		})
		if err != nil || !taken {
			l.unlock()
			if err != nil {
				return nil, err
			}
			continue
		}
		return &Ownership{lock: l, TP: tp}, nil
	}
	return nil, nil
}

// WaitOwnershipFree blocks until nobody holds tp's ownership lock (it
// cannot be cancelled; run it in a goroutine).
func (c *Cluster) WaitOwnershipFree(group string, tp TopicPartition) {
	waitLockReleased(c.ownerLockPath(group, tp))
}

// WaitMemberGone blocks until member id's lock is released: its process
// died or it left. It cannot be cancelled; run it in a goroutine.
func (c *Cluster) WaitMemberGone(group, id string) {
	waitLockReleased(c.memberLockPath(group, id))
}

// Owner returns the member that holds tp's ownership lock, or "".
func (c *Cluster) Owner(group string, tp TopicPartition) string {
	held, err := lockHeld(c.ownerLockPath(group, tp))
	if err != nil || !held {
		return ""
	}
	var o ownerFile
	if readJSON(c.ownerPath(group, tp), &o) != nil {
		return ""
	}
	return o.Member
}

// CommitOffsets records offsets for member. Each partition must be the
// member's by the current group state: the member is in the group and the
// owner file names it (so an expelled member, or one whose partition moved
// on, cannot overwrite the new owner's progress). The check and the write
// are one step under the group lock.
func (c *Cluster) CommitOffsets(group, member string, offsets map[TopicPartition]int64) error {
	_, err := c.withGroup(group, func(g *Group) (bool, error) {
		if g.Member(member) == nil {
			return false, newError(ErrFencedMember, "member %s is no longer in group %s", member, group)
		}
		byTopic := map[string][]Committed{}
		for tp, off := range offsets {
			var o ownerFile
			if readJSON(c.ownerPath(group, tp), &o) != nil || o.Member != member {
				return false, newError(ErrFencedMember, "member %s does not own %s in group %s", member, tp, group)
			}
			byTopic[tp.Topic] = append(byTopic[tp.Topic], Committed{Partition: tp.Partition, Offset: off, Generation: g.Generation, Member: member})
		}
		for topic, entries := range byTopic {
			if err := c.writeOffsetsLocked(group, topic, entries); err != nil {
				return false, err
			}
		}
		return false, nil
	})
	return err
}

// writeOffsetsLocked writes entries (one per partition) into the group's
// offsets file of topic, each stamped with the time now, over the
// partitions' earlier entries; the entries of an older topic of the same
// name are dropped. The caller holds the group lock.
func (c *Cluster) writeOffsetsLocked(group, topic string, entries []Committed) error {
	t, err := c.Topic(topic)
	if err != nil {
		return err
	}
	f := offsetsFile{Topic: topic, TopicID: t.ID}
	var old offsetsFile
	if readJSON(c.offsetsPath(group, topic), &old) == nil && old.TopicID == t.ID {
		f.Partitions = old.Partitions
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, e := range entries {
		e.Committed = now
		if i := slices.IndexFunc(f.Partitions, func(x Committed) bool { return x.Partition == e.Partition }); i >= 0 {
			f.Partitions[i] = e
		} else {
			f.Partitions = append(f.Partitions, e)
		}
	}
	sort.Slice(f.Partitions, func(i, j int) bool { return f.Partitions[i].Partition < f.Partitions[j].Partition })
	return writeJSON(c.offsetsPath(group, topic), f)
}

// CommittedOffsets returns the group's committed offsets of topic by
// partition (offsets of an older topic of the same name are ignored).
func (c *Cluster) CommittedOffsets(group, topic string) (map[int]Committed, error) {
	var f offsetsFile
	err := readJSON(c.offsetsPath(group, topic), &f)
	if errors.Is(err, os.ErrNotExist) {
		return map[int]Committed{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int]Committed{}
	if t, err := c.Topic(topic); err == nil && t.ID == f.TopicID {
		for _, p := range f.Partitions {
			out[p.Partition] = p
		}
	}
	return out, nil
}

// CommittedTopics lists the topics the group has offsets for.
func (c *Cluster) CommittedTopics(group string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(c.groupDir(group), "offsets"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		if ValidateTopicName(name) != nil {
			// Not a topic's own name (see fileName): the file says.
			var f offsetsFile
			if readJSON(filepath.Join(c.groupDir(group), "offsets", e.Name()), &f) != nil || f.Topic == "" {
				continue
			}
			name = f.Topic
		}
		out = append(out, name)
	}
	return out, nil
}

// requireNoLiveMembers is the check of reset-offsets and delete.
func (c *Cluster) requireNoLiveMembers(g *Group) error {
	if err := requireNoKafkaMembers(g); err != nil {
		return err
	}
	var live []string
	for _, m := range g.Members {
		if c.memberAlive(g.Name, m) {
			live = append(live, m.ID)
		}
	}
	if len(live) > 0 {
		return newError(ErrGroupActive, "group %s has %d live member(s) (%s); stop them first", g.Name, len(live), strings.Join(live, ", "))
	}
	return nil
}

// RequireNoLiveMembers is ErrGroupActive, naming the live members, if
// group name has any (reset-offsets refuses even its dry run then).
func (c *Cluster) RequireNoLiveMembers(name string) error {
	g, err := c.Group(name)
	if err != nil {
		return err
	}
	return c.requireNoLiveMembers(g)
}

// SetOffsets writes offsets for a group without live members (reset-offsets).
func (c *Cluster) SetOffsets(group string, offsets map[TopicPartition]int64) error {
	_, err := c.withGroup(group, func(g *Group) (bool, error) {
		if err := c.requireNoLiveMembers(g); err != nil {
			return false, err
		}
		byTopic := map[string][]Committed{}
		for tp, off := range offsets {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], Committed{Partition: tp.Partition, Offset: off, Generation: g.Generation})
		}
		for topic, entries := range byTopic {
			if err := c.writeOffsetsLocked(group, topic, entries); err != nil {
				return false, err
			}
		}
		return false, nil
	})
	return err
}

// DeleteGroup removes a group without live members, offsets and all. A
// group whose group.json is damaged can be deleted too: its members'
// liveness is read from their lock files.
func (c *Cluster) DeleteGroup(name string) error {
	_, err := c.Group(name)
	switch {
	case errors.Is(err, ErrCorruptMetadata):
		err = c.withFileLock(c.groupLockPath(name), func() error {
			live, err := c.liveMemberLocks(name)
			if err == nil && len(live) > 0 {
				err = newError(ErrGroupActive, "group %s has %d live member(s) (%s); stop them first", name, len(live), strings.Join(live, ", "))
			}
			return err
		})
	case err == nil:
		_, err = c.withGroup(name, func(g *Group) (bool, error) { return false, c.requireNoLiveMembers(g) })
	}
	if err != nil {
		return err
	}
	return c.removeGroupDir(name)
}

// removeGroupDir removes a group's directory. It is moved aside first so
// no reader sees half a group: out of meta/groups, so that no listing
// takes it for a group, and under a short name, so that a 249-character
// group's fits.
func (c *Cluster) removeGroupDir(name string) error {
	trash := filepath.Join(c.metaDir(), ".deleted-group-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+newID()[:6])
	if err := os.Rename(c.groupDir(name), trash); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// DeleteGroupOffsets removes the group's committed offsets of topic.
func (c *Cluster) DeleteGroupOffsets(group, topic string) error {
	if _, err := c.Group(group); err != nil {
		return err
	}
	_, err := c.withGroup(group, func(g *Group) (bool, error) {
		if err := c.requireNoLiveMembers(g); err != nil {
			return false, err
		}
		err := os.Remove(c.offsetsPath(group, topic))
		if errors.Is(err, os.ErrNotExist) {
			return false, newError(ErrUnknownTopic, "group %s has no offsets for topic %s", group, topic)
		}
		return false, err
	})
	return err
}
