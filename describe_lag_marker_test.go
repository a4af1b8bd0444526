package main

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDescribeGroupCommittedEarliestMarker: a committed -2 (what kafkajs's
// admin.resetOffsets({earliest: true}) commits) is no offset. Kafka's admin
// client returns it as none, so kafka-consumer-groups.sh shows its
// CURRENT-OFFSET and LAG as -; describe group does the same, -o json has
// current_offset -1 and lag null, and group list's LAG is - (null), not
// 0: the group means to read the partition, from where the offset does not
// say. Locally and over the wire.
func TestDescribeGroupCommittedEarliestMarker(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t", "--partitions", "2")
	mkOK(t, "a\nb\nc\n", "--dir", k.dir, "produce", "t", "--partition", "0")
	mkOK(t, "a\nb\nc\nd\ne\n", "--dir", k.dir, "produce", "t", "--partition", "1")
	commit := func(group string, offs kadm.Offsets) {
		t.Helper()
		r, err := k.admin().CommitOffsets(testContext(t), group, offs)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	early := kadm.Offsets{}
	early.AddOffset("t", 0, -2, -1)
	early.AddOffset("t", 1, -2, -1)
	commit("early", early)
	mixed := kadm.Offsets{}
	mixed.AddOffset("t", 0, 3, -1) // read all
	mixed.AddOffset("t", 1, -2, -1)
	commit("mixed", mixed)
	known := kadm.Offsets{}
	known.AddOffset("t", 0, 1, -1)
	commit("known", known)
	bootstrap := strings.Join(k.addrs(), ",")
	for _, where := range [][]string{{"--dir", k.dir}, {"-b", bootstrap}} {
		what := strings.Join(where, " ")
		out := mkOK(t, "", append([]string{"describe", "group", "early"}, where...)...)
		match(t, what, out, `^early\s+t\s+0\s+-\s+3\s+-\s+-\s+-\s+-$`)
		match(t, what, out, `^early\s+t\s+1\s+-\s+5\s+-\s+-\s+-\s+-$`)
		out = mkOK(t, "", append([]string{"describe", "group", "early", "-o", "json"}, where...)...)
		match(t, what, out, `"current_offset": -1,\s+"log_end_offset": 3,\s+"lag": null,`)
		match(t, what, out, `"current_offset": -1,\s+"log_end_offset": 5,\s+"lag": null,`)
		if strings.Contains(out, "-2") {
			t.Errorf("%s: describe group -o json shows the -2 marker as an offset:\n%s", what, out)
		}
		out = mkOK(t, "", append([]string{"describe", "group", "mixed"}, where...)...)
		match(t, what, out, `^mixed\s+t\s+0\s+3\s+3\s+0\s+-\s+-\s+-$`)
		match(t, what, out, `^mixed\s+t\s+1\s+-\s+5\s+-\s+-\s+-\s+-$`)
		out = mkOK(t, "", append([]string{"group", "list"}, where...)...)
		match(t, what, out, `^early\s+\S+\s+Empty\s+0\s+t\s+-$`)
		match(t, what, out, `^mixed\s+\S+\s+Empty\s+0\s+t\s+-$`)
		// No commit at all on partition 1: no position there, as before.
		match(t, what, out, `^known\s+\S+\s+Empty\s+0\s+t\s+2$`)
		out = mkOK(t, "", append([]string{"group", "list", "-o", "json"}, where...)...)
		match(t, what, out, `"group": "early",[^}]*"lag": null\s+}`)
		match(t, what, out, `"group": "known",[^}]*"lag": 2\s+}`)
	}
}
