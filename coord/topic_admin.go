package coord

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// What Kafka's admin APIs ask of topics beyond mk's own commands: manual
// replica assignments, validate-only requests, adding partitions by a
// total, and read-modify-writes of a topic's config overrides. The
// checks run in Kafka's order (the controller's ReplicationControlManager
// and ConfigurationControlManager), so that a request with several faults
// gets the error Kafka gives.

// TopicSpec is what a CreateTopics request asks for one topic.
type TopicSpec struct {
	// Partitions and ReplicationFactor: -1 for the cluster default
	// (num.partitions, default.replication.factor). Ignored when
	// Assignment is set.
	Partitions, ReplicationFactor int
	// Assignment, when not nil, places the replicas by hand: Assignment[p]
	// lists partition p's replicas, preferred leader first.
	Assignment [][]int
	// Config holds the overrides, checked by ValidateConfig.
	Config map[string]string
	// ValidateOnly checks everything and writes nothing.
	ValidateOnly bool
}

// errValidateOnly ends an UpdateTopic whose result is only to be checked.
var errValidateOnly = errors.New("validate only")

// CreateTopicWith creates topic name as spec says and returns it. The
// checks come in Kafka's order: the name (ErrInvalidTopic), that it is
// free (ErrTopicExists; ErrTopicNameCollision as well for a '.'/'_'
// collision), the configs (ErrInvalidConfig), the counts
// (ErrInvalidPartitions, ErrInvalidReplicationFactor) or the manual
// assignment (ErrInvalidReplicaAssignment), then the placement over the
// live brokers. With spec.ValidateOnly the topic that would be created is
// returned without an id and nothing is written.
//
// A partition of a manual assignment has the live brokers among its
// replicas as its ISR, led by the first of them (Kafka's controller does
// the same with its unfenced brokers); automatic placement uses live
// brokers only, so there every replica is in the ISR.
func (c *Cluster) CreateTopicWith(name string, spec TopicSpec) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	var t *Topic
	err := c.withMetaLock(func() error {
		names, err := c.topicNames()
		if err != nil {
			return err
		}
		for _, other := range names {
			if other == name {
				return newError(ErrTopicExists, "topic %s already exists", name)
			}
			if TopicNamesCollide(name, other) {
				return &coordError{
					msg:      fmt.Sprintf("topic %s collides with existing topic %s: '.' and '_' are the same in topic names; choose another name", name, other),
					sentinel: ErrTopicExists,
					cause:    ErrTopicNameCollision,
				}
			}
		}
		cfg, err := ValidateConfig(spec.Config)
		if err != nil {
			return err
		}
		var ps []Partition
		if spec.Assignment != nil {
			ps, err = c.manualPartitions(0, spec.Assignment, 0)
		} else {
			ps, err = c.placedPartitions(name, 0, spec.Partitions, spec.ReplicationFactor)
		}
		if err != nil {
			return err
		}
		if err := checkPartitionCount(name, len(ps), len(ps)); err != nil {
			return err
		}
		if err := c.checkBrokerCapacity(c.readableTopics(), ps); err != nil {
			return err
		}
		t = &Topic{Name: name, Version: 1, Config: cfg, Partitions: ps}
		if spec.ValidateOnly {
			return nil
		}
		t.ID = newID()
		return writeJSON(c.topicPath(name), t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// placedPartitions places count new partitions from first on, with
// replicationFactor replicas each (-1 for the cluster defaults), over the
// live brokers.
func (c *Cluster) placedPartitions(topic string, first, count, replicationFactor int) ([]Partition, error) {
	if count == -1 {
		count = c.config.NumPartitions
	}
	if replicationFactor == -1 {
		replicationFactor = c.config.DefaultReplicationFactor
	}
	// Kafka's order: the replication factor, then the count.
	if replicationFactor < 1 {
		return nil, newError(ErrInvalidReplicationFactor, "invalid replication factor %d for topic %s: it must be at least 1", replicationFactor, topic)
	}
	if count < 1 {
		return nil, newError(ErrInvalidPartitions, "invalid number of partitions %d for topic %s: it must be at least 1", count, topic)
	}
	// Before placing: a count from the wire can be two billion.
	if err := checkPartitionCount(topic, first+count, count); err != nil {
		return nil, err
	}
	brokers, err := c.brokersForReplicas(replicationFactor)
	if err != nil {
		return nil, err
	}
	return freshPartitions(topic, brokers, first, count, replicationFactor), nil
}

// manualPartitions turns a manual assignment into partitions first,
// first+1, ... It applies Kafka's checks (validateManualPartitionAssignment):
// every list non-empty, of registered brokers, each at most once, all of
// one length (replicationFactor when it is not 0), and at least one live
// broker in each (the leader).
func (c *Cluster) manualPartitions(first int, assignment [][]int, replicationFactor int) ([]Partition, error) {
	infos, err := c.Brokers()
	if err != nil {
		return nil, err
	}
	registered, alive := map[int]bool{}, map[int]bool{}
	for _, b := range infos {
		registered[b.ID] = true
		alive[b.ID] = b.Alive
	}
	bad := func(format string, args ...any) error {
		return newError(ErrInvalidReplicaAssignment, "invalid replica assignment: "+format, args...)
	}
	var ps []Partition
	for i, replicas := range assignment {
		p := first + i
		if len(replicas) == 0 {
			return nil, bad("partition %d has an empty replica list", p)
		}
		seen := map[int]bool{}
		for _, b := range replicas {
			if !registered[b] {
				return nil, bad("partition %d names broker %d, but no such broker is registered", p, b)
			}
			if seen[b] {
				return nil, bad("partition %d names broker %d more than once", p, b)
			}
			seen[b] = true
		}
		if replicationFactor == 0 {
			replicationFactor = len(replicas)
		}
		if len(replicas) != replicationFactor {
			return nil, bad("partition %d has %d replica(s), but the other partitions have %d", p, len(replicas), replicationFactor)
		}
		var isr []int
		for _, b := range replicas {
			if alive[b] {
				isr = append(isr, b)
			}
		}
		if len(isr) == 0 {
			return nil, bad("none of the brokers %v of partition %d is alive to lead it", replicas, p)
		}
		ps = append(ps, Partition{Partition: p, Replicas: slices.Clone(replicas), Leader: isr[0], ISR: isr})
	}
	return ps, nil
}

// AddPartitions raises topic name's partition count to total (Kafka's
// CreatePartitions). A total that is not above the current count is
// ErrInvalidPartitions, as in Kafka (mk topic alter's AlterTopic takes an
// unchanged count as "leave it"). assignment, when not nil, places the new
// partitions' replicas by hand, one list per new partition, each with the
// topic's replication factor (ErrInvalidReplicaAssignment otherwise). With
// validateOnly the topic that would result is returned and nothing is
// written.
func (c *Cluster) AddPartitions(name string, total int, assignment [][]int, validateOnly bool) (*Topic, error) {
	if total > MaxPartitionsPerTopic() {
		// Whatever the topic has now: refused before anything is read.
		if err := checkPartitionCount(name, total, 0); err != nil {
			return nil, err
		}
	}
	t, err := c.UpdateTopic(name, func(t *Topic) error {
		have := len(t.Partitions)
		switch {
		case total < have:
			return newError(ErrInvalidPartitions, "topic %s has %d partitions and cannot shrink to %d: partitions can only be added", name, have, total)
		case total == have:
			return newError(ErrInvalidPartitions, "topic %s already has %d partitions", name, have)
		}
		var ps []Partition
		var err error
		if assignment != nil {
			if len(assignment) != total-have {
				return newError(ErrInvalidReplicaAssignment, "invalid replica assignment: %d partition(s) are to be added to topic %s, but %d assignment(s) were given", total-have, name, len(assignment))
			}
			ps, err = c.manualPartitions(have, assignment, t.ReplicationFactor())
		} else {
			ps, err = c.placedPartitions(name, have, total-have, t.ReplicationFactor())
		}
		if err != nil {
			return err
		}
		if err := checkPartitionCount(name, total, total-have); err != nil {
			return err
		}
		if err := c.checkBrokerCapacity(c.readableTopics(), ps); err != nil {
			return err
		}
		t.Partitions = append(t.Partitions, ps...)
		if validateOnly {
			if err := checkUpdateOnly(t); err != nil {
				return err
			}
			return &validated{t.Clone()}
		}
		return nil
	})
	return validatedResult(t, err)
}

// AlterTopicConfig replaces topic name's config overrides with what fn
// returns for the current ones (a copy fn may change). The result is
// checked and normalized by ValidateConfig. It is a read-modify-write
// under meta/lock, so that Kafka's incremental APPEND and SUBTRACT act on
// the latest value. With validateOnly nothing is written.
func (c *Cluster) AlterTopicConfig(name string, fn func(overrides map[string]string) (map[string]string, error), validateOnly bool) (*Topic, error) {
	t, err := c.UpdateTopic(name, func(t *Topic) error {
		next, err := fn(maps.Clone(t.Config))
		if err != nil {
			return err
		}
		cfg, err := ValidateConfig(next)
		if err != nil {
			return err
		}
		t.Config = cfg
		if validateOnly {
			return &validated{t.Clone()}
		}
		return nil
	})
	return validatedResult(t, err)
}

// validated carries the checked result of a validate-only UpdateTopic out
// through its error, so that nothing is written.
type validated struct{ t *Topic }

func (v *validated) Error() string { return errValidateOnly.Error() }
func (v *validated) Unwrap() error { return errValidateOnly }

func validatedResult(t *Topic, err error) (*Topic, error) {
	var v *validated
	if errors.As(err, &v) {
		return v.t, nil
	}
	return t, err
}

// checkUpdateOnly checks the invariants UpdateTopic would check before
// writing, for a validate-only change.
func checkUpdateOnly(t *Topic) error {
	if err := checkTopic(t); err != nil {
		return newError(ErrInvalidUpdate, "invalid update of topic %s: %v", t.Name, err)
	}
	return nil
}

// ConfigDescription describes a topic config key as Kafka's DescribeConfigs
// does.
type ConfigDescription struct {
	Key     string
	Default string
	// Type is Kafka's ConfigDef type name: INT, LONG, BOOLEAN, STRING or
	// LIST.
	Type string
	// Doc says what the config does (DescribeConfigs' documentation).
	Doc string
	// BrokerKey is the broker config that holds the cluster-wide default
	// in Kafka (ServerTopicConfigSynonyms: retention.ms is
	// log.retention.ms, max.message.bytes is message.max.bytes).
	BrokerKey string
}

// configDocs holds, per topic config, what it does and the broker config
// that is its default in Kafka.
var configDocs = map[string]struct{ doc, broker string }{
	ConfigRetentionMs:                 {"How long a closed log segment is kept before it is deleted, in milliseconds; -1 keeps segments forever.", "log.retention.ms"},
	ConfigRetentionBytes:              {"How large a partition may grow before its oldest closed segments are deleted, in bytes; -1 sets no limit.", "log.retention.bytes"},
	ConfigSegmentBytes:                {"The size at which a partition's active segment is closed and a new one started, in bytes.", "log.segment.bytes"},
	ConfigSegmentMs:                   {"How old a partition's active segment may get before it is closed and a new one started, in milliseconds.", "log.roll.ms"},
	ConfigSegmentIndexBytes:           {"The size of the offset and time index files of each segment, in bytes.", "log.index.size.max.bytes"},
	ConfigIndexIntervalBytes:          {"How many bytes of log may go between two entries of a segment's offset index.", "log.index.interval.bytes"},
	ConfigCleanupPolicy:               {"How old segments are removed: delete (by retention.ms and retention.bytes). mk does not implement compact and refuses it.", "log.cleanup.policy"},
	ConfigMaxMessageBytes:             {"The largest record batch the partition accepts, in bytes, after compression.", "message.max.bytes"},
	ConfigMinInsyncReplicas:           {"How many in-sync replicas must have a batch before an acks=all produce succeeds; with fewer the produce fails with NOT_ENOUGH_REPLICAS.", "min.insync.replicas"},
	ConfigUncleanLeaderElection:       {"Whether a replica outside the ISR may become leader when no ISR member is alive, at the price of losing the records it lacks.", "unclean.leader.election.enable"},
	ConfigFlushMessages:               {"How many records may be appended to a partition before its log is fsynced; the default leaves flushing to the OS and durability to replication.", "log.flush.interval.messages"},
	ConfigFlushMs:                     {"How long appended records may wait before the partition's log is fsynced, in milliseconds; the default leaves flushing to the OS and durability to replication.", "log.flush.interval.ms"},
	ConfigMessageTimestampType:        {"Which timestamp records keep: CreateTime (the producer's) or LogAppendTime (set by the leader when it appends).", "log.message.timestamp.type"},
	ConfigMessageTimestampBeforeMaxMs: {"How far in the past a record's CreateTime may be, relative to the leader's clock when it appends, in milliseconds; an older record's batch is refused with INVALID_TIMESTAMP.", "log.message.timestamp.before.max.ms"},
	ConfigCompressionType:             {"The codec of the partition's batches: producer keeps the one each producer used, the only value mk takes (Kafka's other values have the leader recompress every batch).", "compression.type"},
	ConfigMessageTimestampAfterMaxMs:  {"How far in the future a record's CreateTime may be, relative to the leader's clock when it appends, in milliseconds; a later record's batch is refused with INVALID_TIMESTAMP.", "log.message.timestamp.after.max.ms"},
}

// DescribeConfigKey describes a known topic config key; ok is false for an
// unknown one.
func DescribeConfigKey(key string) (d ConfigDescription, ok bool) {
	spec, ok := configSpecs[key]
	if !ok {
		return d, false
	}
	d = ConfigDescription{Key: key, Default: spec.def, Doc: configDocs[key].doc, BrokerKey: configDocs[key].broker}
	switch spec.kind {
	case kindInt:
		d.Type = "INT"
	case kindLong:
		d.Type = "LONG"
	case kindBool:
		d.Type = "BOOLEAN"
	case kindChoice:
		d.Type = "STRING"
	case kindList, kindReplicaList:
		d.Type = "LIST"
	case kindDouble:
		d.Type = "DOUBLE"
	}
	return d, true
}

// ClusterConfigEntry is one cluster-wide setting of cluster.json.
type ClusterConfigEntry struct {
	Key, Value string
	// Default is Kafka's default for the setting.
	Default string
}

// ClusterConfigEntries lists the cluster-wide settings in effect, sorted
// by key.
func (c *Cluster) ClusterConfigEntries() []ClusterConfigEntry {
	values := map[string]string{
		ClusterAutoCreateTopics:         fmt.Sprint(c.config.AutoCreateTopics),
		ClusterNumPartitions:            fmt.Sprint(c.config.NumPartitions),
		ClusterDefaultReplicationFactor: fmt.Sprint(c.config.DefaultReplicationFactor),
		ClusterAutoLeaderRebalance:      fmt.Sprint(c.config.AutoLeaderRebalance),
	}
	var out []ClusterConfigEntry
	for _, k := range slices.Sorted(maps.Keys(values)) {
		out = append(out, ClusterConfigEntry{Key: k, Value: values[k], Default: clusterConfigDefaults[k]})
	}
	return out
}

// CheckPartitionCount checks a topic of total partitions, added of them
// new, against Kafka's limit per request, the file name limit and the open
// file limit of this process (a consumer of the whole topic keeps
// FilesPerConsumedPartition files open per partition). A client checks
// with it before sending a change to a broker, which checks again with
// its own limits: a local consumer reads the segment files itself.
func CheckPartitionCount(name string, total, added int) error {
	return checkPartitionCount(name, total, added)
}
