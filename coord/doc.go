// Package coord is mk's metadata directory: the cluster's identity, which
// brokers are alive, who the controller is, and every topic's partitions,
// replicas, leaders and ISR. It is what ZooKeeper or the KRaft quorum is to
// Kafka, made of plain files that a person can ls and cat.
//
// # Layout
//
//	<dir>/cluster.json              cluster id, format version, creation time, cluster-wide config
//	<dir>/meta/lock                 flock: serializes every read-modify-write of a metadata file
//	<dir>/meta/brokers/<id>.json    a broker's registration: id, pid, host, started, data_dir,
//	                                session_timeout_ms, max_open_files (its RLIMIT_NOFILE),
//	                                listen and address (its Kafka TCP listener: bound and
//	                                advertised HOST:PORT)
//	<dir>/meta/brokers/<id>.lock    exclusive flock held by the live broker for its lifetime
//	<dir>/meta/controller.lock      exclusive flock held by the active controller
//	<dir>/meta/controller.json      {"broker": 1, "epoch": 7, "pid": 1234, "elected": ...}
//	<dir>/meta/start.lock           flock held by mk cluster start while it starts brokers
//	<dir>/meta/topics/<name>.json   one topic: id, version, config overrides, partitions
//	<dir>/meta/groups/              consumer groups of both kinds: mk's own (group.go) and
//	                                Kafka clients' (group_kafka.go: group.json's "kafka"
//	                                object, written by the group's coordinator broker)
//	<dir>/brokers/<id>/             broker id's data directory
//	<dir>/brokers/<id>/heartbeat    empty file; the live broker sets its mtime every second
//	<dir>/brokers/<id>/<topic>-<p>/ one partition replica (owned by package logdir)
//
// A topic file looks like this (leader -1 means the partition has no leader):
//
//	{"name": "orders", "topic_id": "q3Zb0Qx6Ts2kPSJ3AAm0ow", "version": 4,
//	 "config": {"retention.ms": "3600000"},
//	 "partitions": [{"partition": 0, "replicas": [1, 2, 3], "leader": 1,
//	                 "leader_epoch": 0, "isr": [1, 2, 3]}]}
//
// A partition may also list "damaged" replicas (broker, log_end_offset,
// high_watermark: a replica whose log lost records that may have been
// committed, which does not lead while a replica that may hold them is
// alive) and "last_unclean_epoch" (the epoch of its latest unclean
// election); see Partition and ARCHITECTURE.md.
//
// # Why it is shaped like this
//
// Metadata lives under meta/ and data under brokers/ so that one fsnotify
// watch per metadata directory (meta/brokers, meta/topics) sees every
// metadata change and none of the constant churn of logs and heartbeats.
//
// Every metadata file is replaced whole (temp file, fsync, rename, fsync the
// directory; see logdir.WriteFileAtomic), so a reader that never locks sees
// either the old file or the new one, never a mix. Writers read-modify-write
// under meta/lock, so two writers never lose each other's update. Each
// entity carries a number that only grows: a topic's version (every write),
// a partition's leader_epoch (every leader change), the controller epoch
// (every change of controller). A topic that is deleted and created again
// gets a new topic_id, so "version 1 of topic_id X" names one state forever.
//
// Liveness is a lock. A live broker holds an exclusive flock on its
// <id>.lock; the kernel drops it the moment the process dies, even on
// SIGKILL, so death is seen at once rather than after a timeout. Another
// process tests the lock by taking LOCK_SH|LOCK_NB on its own descriptor:
// success means nobody holds it. A stopped (SIGSTOP) process keeps its
// locks, so the broker also touches brokers/<id>/heartbeat; a broker whose
// lock is held but whose heartbeat is older than its session timeout
// (default 9s, Kafka's broker.session.timeout.ms) counts as failed. The
// heartbeat lives outside meta/ so that it wakes no metadata watcher.
//
// The controller is whoever holds meta/controller.lock, with one exception
// for the stopped controller: see RunController. The controller alone
// moves leaders; it fences the old leader through a hook before publishing
// the new leader epoch (design decision 7), choosing an epoch above every
// replica's on disk so that a fence it died before publishing is overtaken
// (see epochs.go).
//
// Watches are on directories, because a rename replaces the file's inode.
// inotify coalesces and can overflow, so every wake means "re-read state",
// and a backstop timer re-reads anyway: a lost event costs latency, never
// correctness (see Watch).
package coord
