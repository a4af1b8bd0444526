// Package groupcoord is the group coordinator that runs inside every mk
// broker: Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups,
// DeleteGroups, OffsetDelete), as Kafka's GroupCoordinator runs it, for
// the groups of Kafka clients (kcat -G, kafkajs, kafka-python, franz-go,
// the Java consumer). The protocol server (package server) decodes the
// requests, resolves their versions and calls the coordinator; this package
// holds the state machine, its timers and what it writes.
//
// # Which broker
//
// Every group has one coordinator: of the live brokers, the first by
// rendezvous hashing of the group id (CoordinatorFor). Any broker answers
// FindCoordinator with it; the others answer NOT_COORDINATOR to the
// group's requests, and the client asks FindCoordinator again. When the
// coordinator dies (its liveness lock is dropped by the kernel, even on
// SIGKILL) the next broker in the group's ranking is its coordinator at
// once; when it comes back the groups that rank it first go back to it.
//
// # State
//
// A group's members, generation, protocol and assignments are held in
// memory by its coordinator and written to the group's file in the
// metadata directory (group.json's "kafka" object, see coord/group_kafka.go)
// at the points persist.go lists: first member, every generation, the
// leader's assignment, empty. Committed offsets are written to the same
// offsets/<topic>.json files as mk's own consumers' commits, under the
// group's lock, before the commit is answered.
//
// A coordinator that finds a group with members in its file, because the
// group's previous coordinator died or handed it over, takes it over:
// it writes itself into the file at the next coordinator epoch and runs
// the group from there. A stable group goes on without a rebalance; its
// members, told NOT_COORDINATOR by their dead connection, find the new
// coordinator and heartbeat and commit as before. Run scans for such groups
// every second so that members that never come back are removed after
// their session timeout even when nobody asks.
//
// Two coordinators of one group (their views of which brokers live
// disagree for a moment, or a stopped broker resumes) cannot both write:
// every write checks, under the group's lock, that the file still names
// this coordinator at the epoch it last wrote (the fence). The one that
// was replaced fails its next write, gives the group up and answers its
// parked requests NOT_COORDINATOR.
//
// # One kind per group
//
// A group is of one kind at a time. mk's own consumers (mk consume
// --group, which coordinate by locks, design decision 6) cannot join while
// the file lists Kafka members; a Kafka client cannot join (
// INCONSISTENT_GROUP_PROTOCOL) while mk's own members are live. Both checks
// are made under the group's lock.
//
// # Layout
//
//	coordinator.go  Coordinator, which broker runs a group, loading, takeover, scan
//	group.go        the group and its members in memory; protocol choice, leader
//	join.go         JoinGroup: new, known, pending (KIP-394) and static (KIP-345) members
//	rebalance.go    the rebalance: initial delay, join completion, sync wait, sessions
//	sync.go         SyncGroup
//	heartbeat.go    Heartbeat, LeaveGroup
//	offsets.go      OffsetCommit, OffsetFetch, OffsetDelete
//	admin.go        DescribeGroups, ListGroups, DeleteGroups
//	persist.go      what is written when, and loading it back
//	clock.go        the clock (a fake one moves time on in the tests)
package groupcoord
