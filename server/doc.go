// Package server is a broker's Kafka wire-protocol server (design decision
// 9): every mk broker answers Kafka clients (kcat, librdkafka, franz-go,
// kafkajs, kafka-python, the Java client) on a Unix socket in its own
// directory, <dir>/brokers/<id>/kafka.sock, and, when asked, on TCP.
//
// Layout, as franz-go's pkg/kfake lays it out: the framing, the request
// header and the per-connection loop are in conn.go; the table of served
// APIs and their version ranges is in apis.go; every API has a file of its
// own named by its key number and name (00_produce.go, 01_fetch.go,
// 18_api_versions.go, ...) holding its handler, which registers itself with
// the versions it serves. Requests and responses are franz-go's kmsg types.
//
// Framing (Kafka's): every request and response is an int32 size followed
// by that many bytes. A request is a header (int16 api key, int16 api
// version, int32 correlation id, nullable string client id, then tagged
// fields when the request version is flexible, KIP-482) and a body; a
// response is the correlation id, tagged fields when flexible (except
// ApiVersions, whose response header is always v0 so that a client can
// read it before it knows the versions), and a body. A connection's
// requests are handled one at a time, in order, as Kafka's broker does:
// a client may send several before reading the answers (pipelining), and
// gets them back in the same order.
//
// Limits: a request larger than MaxRequestBytes (Kafka's
// socket.request.max.bytes, 100 MiB), or with a negative size or one too
// small for a header, is refused before anything is allocated for it, and
// its connection closed. A request's buffer grows with the bytes that
// arrive, never with the size announced, so a client that announces 100
// MiB and sends little costs little. An unknown API key, a version outside
// the served range (other than ApiVersions, answered with
// UNSUPPORTED_VERSION as KIP-511 says) or a body that does not parse
// closes the connection, as Kafka does; the broker goes on serving the
// others. A connection idle for IdleTimeout (connections.max.idle.ms, 10
// minutes) is closed. A handler that panics (a bug) closes its client's
// connection and logs the stack; it does not take the broker down.
//
// Admin requests (CreateTopics, DeleteTopics, CreatePartitions, the config
// APIs) go to the controller in Kafka, the one writer of its metadata;
// clients find it through Metadata's controller id. Every mk broker may
// write the metadata directory (under meta/lock, as mk topic does), so
// any broker answers them itself, with the controller's answer: sent to
// another broker, a CreateTopics creates the topic rather than failing
// with NOT_CONTROLLER. They call the same coord functions as mk's
// commands, so the wire and `mk topic ...` behave alike (admin.go).
//
// The server never forwards: a broker that does not lead a partition
// answers NOT_LEADER_OR_FOLLOWER and the client refreshes its metadata.
// It reaches partitions only through the replica manager's seam
// (package replica), the one way into a broker's replicas.
package server
