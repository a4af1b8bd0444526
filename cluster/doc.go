// Package cluster is a cluster as mk's client commands see it, wherever it
// is: one interface, Client, with two implementations. Local reads and
// writes the cluster directory (packages coord, client, logdir), sending
// its metadata changes to a live broker's Unix socket so that no command
// holds meta/lock while a broker runs (local_admin.go); Kafka
// speaks the Kafka protocol to any Kafka cluster (Apache Kafka, Redpanda,
// an mk cluster's listener) through franz-go's kgo and kadm. A command
// reads its flags into options, calls a Client, and prints what it gets
// back through package format; it does not know which implementation it
// has.
//
// What a command computes that is not printing lives here too, where a
// unit test reaches it: the reset-offsets plan (PlanReset), the line
// framing of mk produce (ProduceLines), mk cluster start's supervision of
// broker processes (StartBrokers).
//
// The name is the plain one: these are the operations on "the cluster"
// that mk's commands perform, as kcat or kafkactl perform them.
//
// # Errors
//
// Both implementations return the sentinels of packages coord and client
// (coord.ErrUnknownTopic, client.ErrNoLeader, ...), so a command maps
// them to exit codes in one place. A Kafka cluster's error codes are
// mapped to those sentinels (kafkaerrors.go); a connection that failed
// (refused, timed out, TLS, SASL) is a *ConnError naming the broker's
// address.
package cluster
