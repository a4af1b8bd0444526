package cluster

import (
	"mk/coord"
)

// Kafka clients' groups in the cluster directory's view: the group
// coordinator in the brokers (package groupcoord) keeps their members and
// assignments in group.json's "kafka" object, decoded there from the
// consumer protocol.

// viewKafkaMembers fills v's state, strategy and members from a group of
// Kafka clients, records who is assigned what, and returns the topics the
// members subscribe to.
func viewKafkaMembers(g *coord.Group, v *GroupView, assignedTo map[coord.TopicPartition]GroupMemberView) []string {
	k := g.Kafka
	v.State = k.State
	v.Strategy = k.Protocol
	var topics []string
	for _, m := range k.Members {
		row := GroupMemberView{MemberID: m.ID, Host: m.Host, ClientID: m.ClientID, Partitions: m.Assigned}
		if row.Partitions == nil {
			row.Partitions = []coord.TopicPartition{}
		}
		v.Members = append(v.Members, row)
		for _, tp := range m.Assigned {
			assignedTo[tp] = row
		}
		topics = append(topics, m.Topics...)
	}
	return topics
}
