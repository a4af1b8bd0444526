package groupcoord

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
)

// The coordinator's requests and results: the fields of Kafka's group
// requests that the coordinator uses, with versions already resolved by
// the protocol server (package server), and errors as Kafka's error codes.

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	Group      string
	MemberID   string // "" for a member joining for the first time
	InstanceID string // group.instance.id of a static member (KIP-345), or ""
	ClientID   string
	ClientHost string

	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol

	// RequireKnownMemberID: v4+ (KIP-394): a dynamic member joining
	// without an id is given one with MEMBER_ID_REQUIRED and joins again.
	RequireKnownMemberID bool
	// SupportSkipAssignment: v9+ (KIP-814): a static leader rejoining a
	// stable group is told to skip the assignment.
	SupportSkipAssignment bool
	Reason                string
}

// JoinResult is a JoinGroup's answer.
type JoinResult struct {
	Err          *kerr.Error
	MemberID     string
	Generation   int32
	ProtocolType *string // nil: none (v7+ says null)
	Protocol     *string
	Leader       string
	// SkipAssignment: the leader must not compute a new assignment.
	SkipAssignment bool
	// Members, for the leader only: every member with its metadata for
	// the chosen protocol.
	Members []JoinMember
}

// JoinMember is one member as the leader is told of it.
type JoinMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

func joinError(memberID string, err *kerr.Error) JoinResult {
	return JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

// SyncRequest is a SyncGroup.
type SyncRequest struct {
	Group        string
	Generation   int32
	MemberID     string
	InstanceID   string
	ProtocolType *string // v5+; nil when not sent
	Protocol     *string
	// Assignments is the leader's assignment by member id (others send
	// none; what they send is ignored).
	Assignments map[string][]byte
}

// SyncResult is a SyncGroup's answer.
type SyncResult struct {
	Err          *kerr.Error
	ProtocolType *string
	Protocol     *string
	Assignment   []byte
}

func syncError(err *kerr.Error) SyncResult { return SyncResult{Err: err} }

// HeartbeatRequest is a Heartbeat.
type HeartbeatRequest struct {
	Group      string
	Generation int32
	MemberID   string
	InstanceID string
}

// LeaveMember is one member leaving in a LeaveGroup: by member id, or (v3+,
// an administrator removing a static member) by group.instance.id alone.
type LeaveMember struct {
	MemberID   string
	InstanceID string
	Reason     string
}

// CommitRequest is an OffsetCommit.
type CommitRequest struct {
	Group      string
	Generation int32 // -1: a client that only stores offsets
	MemberID   string
	InstanceID string
	Offsets    map[coord.TopicPartition]coord.KafkaOffset
}

// FetchedOffset is one committed offset, -1 (and leader epoch -1) when the
// partition has none.
type FetchedOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// GroupSummary is what DescribeGroups says of a group.
type GroupSummary struct {
	Err          *kerr.Error
	State        string
	ProtocolType string
	Protocol     string
	Members      []MemberSummary
}

// MemberSummary is one member in a GroupSummary. Metadata and Assignment
// are set only when the group is Stable, as Kafka does.
type MemberSummary struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// GroupOverview is one group in ListGroups.
type GroupOverview struct {
	Group        string
	ProtocolType string
	State        string
	// Type is Kafka's group type (KIP-848): "classic" for groups of the
	// classic protocol; "mk" for mk's own groups.
	Type string
}
