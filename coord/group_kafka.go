package coord

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Kafka-protocol groups (design decision 9). A group whose members are
// Kafka clients (kcat -G, kafkajs, kafka-python, franz-go, the Java
// consumer) is run by a group coordinator inside one broker (package
// groupcoord), speaking Kafka's classic group protocol. It keeps its state in
// the same files as mk's own groups, so mk's group commands see and manage
// both kinds:
//
//	meta/groups/<group>/group.json            gains "kafka": the coordinator's state
//	meta/groups/<group>/offsets/<topic>.json  committed offsets, both kinds alike
//
// The "kafka" object of group.json:
//
//	{"protocol_type": "consumer", "state": "Stable", "protocol": "range",
//	 "leader": "kgo-4f1c...", "coordinator": 2, "coordinator_epoch": 7,
//	 "state_changed": "2024-05-01T10:00:00.123Z",
//	 "members": [{"member_id": "kgo-4f1c...", "group_instance_id": "",
//	              "client_id": "kgo", "client_host": "/127.0.0.1",
//	              "session_timeout_ms": 45000, "rebalance_timeout_ms": 60000,
//	              "topics": ["orders"], "assigned": [{"topic": "orders", "partition": 0}],
//	              "protocols": [{"name": "range", "metadata": "<base64>"}],
//	              "assignment": "<base64>"}]}
//
// The group's "generation" is the one generation of the file, shared by both
// kinds, so it only grows whoever runs the group.
//
// A group is of one kind at a time: while "kafka" lists members, mk's own
// consumers cannot join (ErrGroupKind), and while mk's own members are live
// the coordinator refuses Kafka members (INCONSISTENT_GROUP_PROTOCOL on the
// wire). Both checks are made under the group's lock, so the two kinds
// never join at once.
//
// Fencing: the coordinator that writes "kafka" is named with an epoch that
// grows on every takeover. A coordinator writes only if the file still
// names it at the epoch it last wrote (UpdateKafkaGroup's fence), so a
// coordinator that was replaced (its broker stopped and resumed, or another
// broker became the group's coordinator) cannot overwrite its successor: its
// write fails with ErrCoordinatorFenced and it gives the group up.

// Kafka group states, as Kafka names them.
const (
	KafkaEmpty               = "Empty"
	KafkaPreparingRebalance  = "PreparingRebalance"
	KafkaCompletingRebalance = "CompletingRebalance"
	KafkaStable              = "Stable"
	KafkaDead                = "Dead"
)

// Errors of Kafka-protocol groups.
var (
	// ErrGroupKind: a consumer of one kind (mk's own, or a Kafka client)
	// tried to join a group whose live members are of the other kind.
	ErrGroupKind = errors.New("group is of another kind")
	// ErrCoordinatorFenced: the group's file names another coordinator,
	// or this one at another epoch: this coordinator was replaced.
	ErrCoordinatorFenced = errors.New("group coordinator fenced")
)

// KafkaGroup is the Kafka group coordinator's state of a group (the "kafka"
// object of group.json): what a coordinator taking over needs.
type KafkaGroup struct {
	// ProtocolType is the members' protocol type ("consumer" for
	// consumers; "" for a group that only stores offsets).
	ProtocolType string `json:"protocol_type"`
	State        string `json:"state"`
	// Protocol is the protocol chosen for the generation (the assignor
	// name for consumers: range, roundrobin, cooperative-sticky, ...).
	Protocol string `json:"protocol,omitempty"`
	Leader   string `json:"leader,omitempty"`
	// Coordinator is the broker running the group, CoordinatorEpoch the
	// number of takeovers (the fence).
	Coordinator      int           `json:"coordinator"`
	CoordinatorEpoch int64         `json:"coordinator_epoch"`
	StateChanged     string        `json:"state_changed"` // RFC 3339
	Members          []KafkaMember `json:"members"`
}

// KafkaMember is one member of a Kafka group.
type KafkaMember struct {
	ID                 string `json:"member_id"`
	InstanceID         string `json:"group_instance_id,omitempty"` // static membership (KIP-345)
	ClientID           string `json:"client_id"`
	Host               string `json:"client_host"`
	SessionTimeoutMs   int32  `json:"session_timeout_ms"`
	RebalanceTimeoutMs int32  `json:"rebalance_timeout_ms"`
	// Topics and Assigned are decoded from the metadata of the group's
	// protocol and from Assignment when the protocol type is "consumer",
	// for people and mk's commands.
	Topics   []string         `json:"topics,omitempty"`
	Assigned []TopicPartition `json:"assigned,omitempty"`
	// Protocols are the member's protocols in its order of preference,
	// with its metadata for each; Assignment is what the leader gave it.
	// Both are opaque to the coordinator (base64 in the file).
	Protocols  []KafkaProtocol `json:"protocols"`
	Assignment []byte          `json:"assignment"`
}

// KafkaProtocol is one protocol a Kafka member supports.
type KafkaProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

// KafkaFence names the coordinator state a write expects to find: the
// coordinator broker and epoch last read or written (zero values: a group
// that no coordinator ever ran).
type KafkaFence struct {
	Coordinator int
	Epoch       int64
}

// Fence returns the fence of the group as read.
func (g *Group) Fence() KafkaFence {
	if g.Kafka == nil {
		return KafkaFence{}
	}
	return KafkaFence{g.Kafka.Coordinator, g.Kafka.CoordinatorEpoch}
}

// HasKafkaMembers reports whether Kafka clients are members of the group.
func (g *Group) HasKafkaMembers() bool { return g.Kafka != nil && len(g.Kafka.Members) > 0 }

// ProtocolType is the group's kind as Kafka's ListGroups names it:
// the Kafka members' protocol type, "mk" for a group of mk's own consumers,
// "" for a group that only holds offsets.
func (g *Group) ProtocolType() string {
	switch {
	case g.HasKafkaMembers():
		return g.Kafka.ProtocolType
	case len(g.Members) > 0:
		return ProtocolTypeMk
	case g.Kafka != nil && g.Kafka.ProtocolType != "":
		return g.Kafka.ProtocolType
	case g.Strategy != "":
		return ProtocolTypeMk
	}
	return ""
}

// ProtocolTypeMk is the protocol type shown for mk's own groups.
const ProtocolTypeMk = "mk"

// checkNoKafkaMembersLocked is mk's own JoinGroup's check of the group's
// kind, under the group lock.
func checkNoKafkaMembersLocked(g *Group) error {
	if !g.HasKafkaMembers() {
		return nil
	}
	return newError(ErrGroupKind, "group %s is a Kafka consumer group (protocol type %q, %d member(s), coordinator broker %d): mk consume --group cannot join it; use another group name",
		g.Name, g.Kafka.ProtocolType, len(g.Kafka.Members), g.Kafka.Coordinator)
}

// requireNoKafkaMembers is reset-offsets', delete's and delete-offsets'
// check of Kafka members. Members listed in the file count as live: the
// coordinator removes them when they leave or miss their session timeout,
// and a group whose coordinator died is taken over by another broker
// within a second; with no broker running they may still be clients
// waiting to reconnect.
func requireNoKafkaMembers(g *Group) error {
	if !g.HasKafkaMembers() {
		return nil
	}
	ids := make([]string, len(g.Kafka.Members))
	for i, m := range g.Kafka.Members {
		ids[i] = m.ID
	}
	return newError(ErrGroupActive, "group %s has %d Kafka member(s) (%s; state %s, coordinator broker %d); stop them first (a member that stopped without leaving is removed after its session timeout)",
		g.Name, len(ids), strings.Join(ids, ", "), g.Kafka.State, g.Kafka.Coordinator)
}

// liveMkMembersLocked returns the ids of the group's live mk members (for
// the coordinator's check of the group's kind).
func (c *Cluster) liveMkMembersLocked(g *Group) []string {
	var ids []string
	for _, m := range g.Members {
		if c.memberAlive(g.Name, m) {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// KafkaUpdate says what UpdateKafkaGroup checks and does besides the fence.
type KafkaUpdate struct {
	// RequireNoMkMembers: fail with ErrGroupKind if mk's own members are
	// live (the update gives the group its first Kafka members).
	RequireNoMkMembers bool
	// TakeOver: write the caller as the coordinator at the next epoch.
	TakeOver bool
}

// UpdateKafkaGroup runs fn on the group under its lock and writes the group
// back, if the file still holds fence (else ErrCoordinatorFenced). fn may
// change g.Kafka (never nil in fn) and g.Generation, which is kept from
// going down; the coordinator fields are UpdateKafkaGroup's: kept as they
// were, or with opts.TakeOver set to broker at the next epoch. It returns
// the group as written, and the stamp of the file written. A group
// without a directory is created.
func (c *Cluster) UpdateKafkaGroup(name string, broker int, fence KafkaFence, opts KafkaUpdate, fn func(g *Group) error) (*Group, GroupStamp, error) {
	var out *Group
	var stamp GroupStamp
	_, err := c.withGroup(name, func(g *Group) (bool, error) {
		if got := g.Fence(); got != fence {
			return false, fencedError(name, got, fence)
		}
		if opts.RequireNoMkMembers {
			if live := c.liveMkMembersLocked(g); len(live) > 0 {
				return false, newError(ErrGroupKind, "group %s has %d live mk member(s) (%s)", name, len(live), strings.Join(live, ", "))
			}
			// Dead mk members are of no use to anyone now.
			if c.expireLocked(g) {
				g.Assignment = map[string][]TopicPartition{}
			}
		}
		if g.Kafka == nil {
			g.Kafka = &KafkaGroup{State: KafkaEmpty}
		}
		generation, coordinator, epoch := g.Generation, g.Kafka.Coordinator, g.Kafka.CoordinatorEpoch
		if err := fn(g); err != nil {
			return false, err
		}
		g.Generation = max(g.Generation, generation)
		g.Kafka.Coordinator, g.Kafka.CoordinatorEpoch = coordinator, epoch
		if opts.TakeOver {
			g.Kafka.Coordinator = broker
			g.Kafka.CoordinatorEpoch++
		}
		if g.Kafka.Members == nil {
			g.Kafka.Members = []KafkaMember{}
		}
		// Written here rather than by withGroup, to stamp the file
		// under the lock.
		if err := writeJSON(c.groupPath(name), g); err != nil {
			return false, err
		}
		var err error
		if stamp, err = c.GroupStamp(name); err != nil {
			return false, err
		}
		cp := *g
		out = &cp
		return false, nil
	})
	return out, stamp, err
}

// GroupStamp identifies one version of a group's group.json (the file is
// replaced whole on every write, so a new version is a new file). A
// coordinator that holds a group in memory compares the stamp of the file
// it last wrote with the file's before it answers from memory: a file
// written by another coordinator meanwhile (this broker was stopped, and
// another took the group over) is seen at the cost of a stat.
type GroupStamp struct{ fi os.FileInfo }

// GroupStamp stamps the group's group.json as it is now.
func (c *Cluster) GroupStamp(name string) (GroupStamp, error) {
	fi, err := os.Stat(c.groupPath(name))
	return GroupStamp{fi}, err
}

// Same reports whether s and o stamp one version of the file.
func (s GroupStamp) Same(o GroupStamp) bool {
	return s.fi != nil && o.fi != nil && os.SameFile(s.fi, o.fi) && s.fi.ModTime().Equal(o.fi.ModTime()) && s.fi.Size() == o.fi.Size()
}

func fencedError(name string, got, want KafkaFence) error {
	return newError(ErrCoordinatorFenced, "group %s is run by broker %d at epoch %d, not broker %d at epoch %d", name, got.Coordinator, got.Epoch, want.Coordinator, want.Epoch)
}

// KafkaOffset is one offset committed by a Kafka client.
type KafkaOffset struct {
	Offset      int64
	LeaderEpoch int32 // -1: none
	Metadata    string
}

// CommitKafkaOffsets writes offsets committed through the Kafka protocol,
// under the group lock, if the group's file still holds fence (else
// ErrCoordinatorFenced); validation against the members and generation is
// the coordinator's. generation and member are recorded with each offset.
// checkMk refuses (ErrGroupKind) while mk's own members are live: a Kafka
// client that is not a member cannot commit to a group that has members.
// It returns the error of each topic whose offsets were not written
// (unknown topics: ErrUnknownTopic).
func (c *Cluster) CommitKafkaOffsets(name string, fence KafkaFence, checkMk bool, generation int64, member string, offsets map[TopicPartition]KafkaOffset) (map[string]error, error) {
	topicErrs := map[string]error{}
	_, err := c.withGroup(name, func(g *Group) (bool, error) {
		if got := g.Fence(); got != fence {
			return false, fencedError(name, got, fence)
		}
		if checkMk {
			if live := c.liveMkMembersLocked(g); len(live) > 0 {
				return false, newError(ErrGroupKind, "group %s has %d live mk member(s)", name, len(live))
			}
		}
		byTopic := map[string]map[int]KafkaOffset{}
		for tp, off := range offsets {
			if byTopic[tp.Topic] == nil {
				byTopic[tp.Topic] = map[int]KafkaOffset{}
			}
			byTopic[tp.Topic][tp.Partition] = off
		}
		for topic, parts := range byTopic {
			if err := c.writeKafkaOffsetsLocked(name, topic, parts, generation, member); err != nil {
				if !errors.Is(err, ErrUnknownTopic) {
					return false, err
				}
				topicErrs[topic] = err
			}
		}
		return false, nil
	})
	return topicErrs, err
}

func (c *Cluster) writeKafkaOffsetsLocked(group, topic string, parts map[int]KafkaOffset, generation int64, member string) error {
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
	for p, off := range parts {
		e := Committed{Partition: p, Offset: off.Offset, Generation: generation, Member: member, Committed: now, Metadata: off.Metadata}
		if off.LeaderEpoch >= 0 {
			epoch := off.LeaderEpoch
			e.LeaderEpoch = &epoch
		}
		if i := slices.IndexFunc(f.Partitions, func(x Committed) bool { return x.Partition == p }); i >= 0 {
			f.Partitions[i] = e
		} else {
			f.Partitions = append(f.Partitions, e)
		}
	}
	sort.Slice(f.Partitions, func(i, j int) bool { return f.Partitions[i].Partition < f.Partitions[j].Partition })
	return writeJSON(c.offsetsPath(group, topic), f)
}

// DeleteKafkaOffsets removes the group's committed offsets of the given
// partitions (Kafka's OffsetDelete), under the group lock, if the group's
// file still holds fence.
func (c *Cluster) DeleteKafkaOffsets(name string, fence KafkaFence, tps []TopicPartition) error {
	_, err := c.withGroup(name, func(g *Group) (bool, error) {
		if got := g.Fence(); got != fence {
			return false, fencedError(name, got, fence)
		}
		byTopic := map[string][]int{}
		for _, tp := range tps {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		for topic, parts := range byTopic {
			var f offsetsFile
			err := readJSON(c.offsetsPath(name, topic), &f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return false, err
			}
			keep := f.Partitions[:0]
			for _, p := range f.Partitions {
				if !slices.Contains(parts, p.Partition) {
					keep = append(keep, p)
				}
			}
			if len(keep) == 0 {
				if err := os.Remove(c.offsetsPath(name, topic)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return false, err
				}
				continue
			}
			f.Partitions = keep
			if err := writeJSON(c.offsetsPath(name, topic), f); err != nil {
				return false, err
			}
		}
		return false, nil
	})
	return err
}

// DeleteKafkaGroup removes a group that has no members of either kind
// (Kafka's DeleteGroups), if its file still holds fence.
func (c *Cluster) DeleteKafkaGroup(name string, fence KafkaFence) error {
	_, err := c.withGroup(name, func(g *Group) (bool, error) {
		if got := g.Fence(); got != fence {
			return false, fencedError(name, got, fence)
		}
		return false, c.requireNoLiveMembers(g)
	})
	if err != nil {
		return err
	}
	return c.removeGroupDir(name)
}

// GroupExists reports whether group name has a directory (members or
// offsets, of either kind).
func (c *Cluster) GroupExists(name string) bool {
	if ValidateGroupName(name) != nil {
		return false
	}
	fi, err := os.Stat(c.groupDir(name))
	return err == nil && fi.IsDir()
}

// GroupNames lists the groups' names, sorted, without reading them.
func (c *Cluster) GroupNames() ([]string, error) {
	ents, err := os.ReadDir(c.GroupsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && ValidateGroupName(e.Name()) == nil && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// LiveMkMembers returns the ids of group g's live mk members.
func (c *Cluster) LiveMkMembers(g *Group) []string { return c.liveMkMembersLocked(g) }

// String describes a fence for logs.
func (f KafkaFence) String() string {
	return fmt.Sprintf("broker %d epoch %d", f.Coordinator, f.Epoch)
}
