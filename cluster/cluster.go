package cluster

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"mk/client"
	"mk/coord"
	"mk/logdir"
)

// Client is a cluster as mk's client commands see it. Methods that list
// return what they could read and, separately, one error per thing they
// could not (a damaged metadata file, a topic the cluster refused to
// describe): a command prints the first, then names the second.
type Client interface {
	// Close releases connections and files.
	Close()

	// DescribeCluster lists the brokers.
	DescribeCluster(ctx context.Context) (*ClusterView, []error, error)
	// Topics describes every topic, sorted by name.
	Topics(ctx context.Context) ([]*TopicView, []error, error)
	// Topic describes one topic: coord.ErrUnknownTopic if there is none.
	Topic(ctx context.Context, name string) (*TopicView, error)
	// Producers lists the idempotent producers each partition's leader
	// remembers: coord.ErrUnknownTopic if there is no such topic.
	Producers(ctx context.Context, topic string) (*ProducersView, error)
	// CreateTopic creates a topic; Partitions and ReplicationFactor 0 take
	// the cluster's defaults. It returns what was created.
	CreateTopic(ctx context.Context, spec TopicSpec) (*TopicView, error)
	// AlterTopic adds partitions or changes configs.
	AlterTopic(ctx context.Context, name string, change TopicChange) error
	// DeleteTopic deletes a topic and its data.
	DeleteTopic(ctx context.Context, name string) error

	// Groups describes every consumer group, sorted by name.
	Groups(ctx context.Context) ([]*GroupView, []error, error)
	// Group describes one group: coord.ErrUnknownGroup if there is none.
	// Damaged lists what could not be read about it.
	Group(ctx context.Context, name string) (view *GroupView, damaged []error, err error)
	// RequireInactive is coord.ErrGroupActive if the group has live
	// members (reset-offsets refuses even its dry run then).
	RequireInactive(ctx context.Context, group string) error
	// OffsetsForTime is, per partition, the first offset whose timestamp
	// is at or after ms (the high watermark when there is none).
	OffsetsForTime(ctx context.Context, tps []coord.TopicPartition, ms int64) (map[coord.TopicPartition]int64, error)
	// SetGroupOffsets writes a group's committed offsets (reset-offsets
	// --execute); refused while the group has live members.
	SetGroupOffsets(ctx context.Context, group string, offsets map[coord.TopicPartition]int64) error
	// DeleteGroup deletes a group and its offsets; refused while it has
	// live members.
	DeleteGroup(ctx context.Context, group string) error
	// DeleteGroupOffsets deletes a group's committed offsets of a topic.
	DeleteGroupOffsets(ctx context.Context, group, topic string) error

	// NewProducer opens a topic for producing.
	NewProducer(ctx context.Context, topic string, opts ProducerOptions) (Producer, error)
	// Consume prints (through h) the records of the partitions spec
	// names, until ctx ends, h returns client.ErrStop, or (without
	// Follow) every partition is caught up.
	Consume(ctx context.Context, spec ConsumeSpec, h client.Handler) error
	// ConsumeGroup is one member of a consumer group until ctx ends, h
	// returns client.ErrStop, or (ExitAtEnd) what it was assigned is
	// caught up; it commits what h was handed and opts.Flush made
	// durable (at-least-once).
	ConsumeGroup(ctx context.Context, topics []string, opts client.GroupOptions, h client.Handler) error
}

// BrokerView is one broker in describe cluster. Pid 0 and SizeBytes -1
// are unknown (a remote cluster does not tell a broker's pid, nor its
// size when it does not answer DescribeLogDirs).
type BrokerView struct {
	ID    int    `json:"id"`
	State string `json:"state"`
	Pid   int    `json:"pid"`
	Host  string `json:"host"`
	// Address is the advertised HOST:PORT of the broker's Kafka listener
	// ("" when it has none).
	Address    string `json:"address"`
	Controller bool   `json:"controller"`
	Partitions int    `json:"partitions"`
	Leaders    int    `json:"leaders"`
	SizeBytes  int64  `json:"size_bytes"`
}

// ClusterView is describe cluster. Dir is the cluster directory, or the
// bootstrap servers of a remote cluster; ControllerEpoch is -1 when it is
// not known (a remote cluster).
type ClusterView struct {
	ClusterID       string       `json:"cluster_id"`
	Dir             string       `json:"dir"`
	Controller      int          `json:"controller"`
	ControllerEpoch int64        `json:"controller_epoch"`
	Brokers         []BrokerView `json:"brokers"`
}

// PartitionView is one partition in describe topic. Offsets and size are
// -1 where they are not known: no readable replica, or (LogEndOffset) a
// remote cluster, whose clients see the high watermark and not the log end.
type PartitionView struct {
	Partition      int   `json:"partition"`
	Leader         int   `json:"leader"`
	LeaderEpoch    int   `json:"leader_epoch"`
	Replicas       []int `json:"replicas"`
	ISR            []int `json:"isr"`
	LogStartOffset int64 `json:"log_start_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	LogEndOffset   int64 `json:"log_end_offset"`
	SizeBytes      int64 `json:"size_bytes"`
	// OfflineReplicas are the replicas whose broker is not alive (Kafka's
	// offline replicas): when the leader is one, the partition has no
	// working leader, whatever the metadata last recorded.
	OfflineReplicas []int `json:"offline_replicas"`
	// Damaged are the replicas known to lack records that may have been
	// committed; they do not lead while a replica that may hold them is
	// alive (see coord.Partition.Damaged). None for a remote cluster.
	Damaged []coord.DamagedReplica `json:"damaged"`
	// LastUncleanEpoch is the leader epoch of the partition's latest
	// unclean election, 0 if none (or not known: a remote cluster).
	LastUncleanEpoch int `json:"last_unclean_epoch"`
	// LeaderState is the leader's broker state (alive, failed, dead) when
	// known: a table marks a leader that is down.
	LeaderState string `json:"-"`
}

// TopicView is describe topic. Config holds the configs set on the topic
// (not the defaults).
type TopicView struct {
	Topic             string            `json:"topic"`
	TopicID           string            `json:"topic_id"`
	PartitionCount    int               `json:"partition_count"`
	ReplicationFactor int               `json:"replication_factor"`
	Config            map[string]string `json:"config"`
	Partitions        []PartitionView   `json:"partitions"`
	// Notes say what the table cannot: that leaders and ISRs are stale
	// because no controller is running, say.
	Notes []string `json:"notes"`
}

// ConfigSummary lists the topic's configs as k=v,k=v, sorted by key.
func (v *TopicView) ConfigSummary() string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(v.Config)) {
		kv = append(kv, k+"="+v.Config[k])
	}
	return strings.Join(kv, ",")
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int // 0: the cluster's default (num.partitions)
	ReplicationFactor int // 0: the cluster's default (default.replication.factor)
	Config            map[string]string
}

// TopicChange is what topic alter changes.
type TopicChange struct {
	Partitions   int // the new partition count; 0: unchanged
	SetConfig    map[string]string
	DeleteConfig []string
}

// GroupPartitionView is one row of describe group, Kafka's columns.
type GroupPartitionView struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	// CurrentOffset is the committed offset; -1 when none is committed,
	// or what is committed is not an offset (see setLag).
	CurrentOffset int64 `json:"current_offset"`
	LogEndOffset  int64 `json:"log_end_offset"`
	// Lag is LogEndOffset - CurrentOffset, as kafka-consumer-groups.sh
	// shows it: negative for a committed offset past the log's end (set
	// ahead, or the log truncated below it); nil (null) when unknown.
	Lag        *int64 `json:"lag"`
	ConsumerID string `json:"consumer_id"`
	Host       string `json:"host"`
	ClientID   string `json:"client_id"`
	// lagUnknown: the group has a position here whose lag is not known
	// (see setLag), so the group's total is not known either.
	lagUnknown bool
}

// setLag sets r's lag from its offsets and returns what it adds to the
// group's: the records the group has yet to read there (none for a
// negative lag).
//
// A committed offset below -1 is no offset: kafkajs's
// admin.resetOffsets({earliest: true}) commits -2, its "earliest". Kafka's
// admin client returns a negative committed offset as none (null), so
// kafka-consumer-groups.sh shows its CURRENT-OFFSET and LAG as -, and a
// Java consumer starts there from its auto.offset.reset. So it is shown
// as none committed; but the group does mean to read the partition, from
// somewhere the offset does not say, so its total lag is unknown
// (lagUnknown), rather than counting nothing there. The same holds for a
// committed offset whose log end is unknown.
func (r *GroupPartitionView) setLag() int64 {
	if r.CurrentOffset < -1 {
		r.CurrentOffset = -1
		r.lagUnknown = true
		return 0
	}
	if r.CurrentOffset < 0 || r.LogEndOffset < 0 {
		r.lagUnknown = r.CurrentOffset >= 0
		return 0
	}
	lag := r.LogEndOffset - r.CurrentOffset
	r.Lag = &lag
	return max(lag, 0)
}

// GroupMemberView is one member of a group. Pid is 0 when not known (a
// Kafka client's member, a remote cluster's).
type GroupMemberView struct {
	MemberID   string                 `json:"member_id"`
	Host       string                 `json:"host"`
	ClientID   string                 `json:"client_id"`
	Pid        int                    `json:"pid"`
	Partitions []coord.TopicPartition `json:"partitions"`
}

// GroupView is describe group. Generation is -1 when not known (Kafka's
// DescribeGroups does not tell it).
type GroupView struct {
	Group string `json:"group"`
	// ProtocolType is the group's kind: "consumer" for Kafka clients'
	// groups, "mk" for mk's own members coordinating by locks.
	ProtocolType string               `json:"protocol_type"`
	State        string               `json:"state"`
	Generation   int64                `json:"generation"`
	Strategy     string               `json:"strategy"`
	Members      []GroupMemberView    `json:"members"`
	Offsets      []GroupPartitionView `json:"offsets"`
	// Lag is the records the group has yet to read: the sum of the rows'
	// positive lags (a row past its log's end adds nothing); Topics the
	// topics the group has offsets for or its members subscribe to,
	// sorted.
	Lag    int64    `json:"-"`
	Topics []string `json:"-"`
}

// LagKnown reports whether v.Lag is the group's lag: false when a row
// holds a position whose lag is unknown (see setLag), where Lag counts
// nothing.
func (v *GroupView) LagKnown() bool {
	for _, r := range v.Offsets {
		if r.lagUnknown {
			return false
		}
	}
	return true
}

// Committed is the group's committed offset of tp, if it has one.
func (v *GroupView) Committed(tp coord.TopicPartition) (int64, bool) {
	for _, r := range v.Offsets {
		if r.Topic == tp.Topic && r.Partition == tp.Partition && r.CurrentOffset >= 0 {
			return r.CurrentOffset, true
		}
	}
	return 0, false
}

// ProducerOptions configure a Producer.
type ProducerOptions struct {
	Acks       int // client.AcksNone, AcksLeader or AcksAll
	BatchBytes int
	// Timeout bounds how long a record may wait for a leader or its acks
	// (delivery.timeout.ms).
	Timeout time.Duration
	// AutoCreate creates an unknown topic with the cluster's defaults, when
	// the cluster allows it; OnCreate is told.
	AutoCreate bool
	OnCreate   func(topic string, partitions, replicationFactor int)
	// OnAck is called for every acknowledged run of records, in order per
	// partition. baseOffset is -1 where the offsets are not known (acks=0
	// against a Kafka cluster: the broker does not answer).
	OnAck func(partition int32, baseOffset int64, count int)
	// OnRecord is called once for every record sent, when it is
	// acknowledged (offset its offset, -1 when the cluster tells none) or
	// failed (offset -1, failed true); index counts the Send calls from
	// 0. In order per partition, not across them.
	OnRecord func(index int64, partition int32, offset int64, failed bool)
	Warnf    func(format string, args ...any)
	// Idempotent: the producer gets a producer id and numbers its batches,
	// so a retried batch is stored once (enable.idempotence; needs
	// AcksAll).
	Idempotent bool
}

// Producer sends records to one topic. Not safe for concurrent use.
type Producer interface {
	// Partitions is the topic's partition count.
	Partitions() int
	// MaxMessageBytes is the topic's max.message.bytes.
	MaxMessageBytes() int64
	// Send adds a record; it does not keep key, value or headers after it
	// returns (the caller reuses them). partition < 0 lets the partitioner choose
	// (murmur2 of the key as Kafka's Java client; sticky without a key).
	// A record too large for the topic is a *client.RecordTooLargeError.
	Send(partition int32, timestamp int64, key, value []byte, headers []logdir.Header) error
	// Idle is told that the input went idle: what is batched must not
	// wait for more records (a line that trickles in is sent at once).
	Idle() error
	// Flush sends what is batched and waits for its acknowledgement.
	Flush() error
	// Close flushes and releases the producer.
	Close() error
	// Acked and Failed count records acknowledged and not.
	Acked() int64
	Failed() int64
}

// ConsumeSpec says what Consume reads.
type ConsumeSpec struct {
	Topics    []string
	Partition int // -1: every partition
	Start     client.StartSpec
	// Follow waits for new records; otherwise Consume ends once every
	// partition is caught up with its high watermark (-e).
	Follow bool
	// ResetEarliest: an offset out of range resets to the log start
	// rather than the high watermark.
	ResetEarliest bool
	Warnf         func(format string, args ...any)
	// Idle is called before waiting for records (flush output there).
	Idle func() error
}

// ProducersView is describe producers: the idempotent producers of a
// topic's partitions as their leaders remember them (Kafka's
// DescribeProducers, kafka-transactions.sh describe-producers). Notes name
// the partitions whose leader could not be asked.
type ProducersView struct {
	Topic     string         `json:"topic"`
	Producers []ProducerView `json:"producers"`
	Notes     []string       `json:"notes"`
}

// ProducerView is one producer of one partition. CoordinatorEpoch and
// CurrentTxnStartOffset are -1 outside a transaction (always, in mk).
type ProducerView struct {
	Partition             int   `json:"partition"`
	Leader                int   `json:"leader"`
	ProducerID            int64 `json:"producer_id"`
	ProducerEpoch         int   `json:"producer_epoch"`
	LastSequence          int   `json:"last_sequence"`
	LastTimestamp         int64 `json:"last_timestamp"`
	CoordinatorEpoch      int   `json:"coordinator_epoch"`
	CurrentTxnStartOffset int64 `json:"current_txn_start_offset"`
}
