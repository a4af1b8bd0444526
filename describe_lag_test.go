package main

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDescribeGroupLagPastEnd: a committed offset past the log's end
// (committed ahead, as any Kafka client may) shows a negative LAG, as
// kafka-consumer-groups.sh shows it (its lag is end minus offset,
// unclamped), locally and over the wire; -o json has the same number, and
// null for an unknown lag; group list's LAG counts only the records the
// group has yet to read.
func TestDescribeGroupLagPastEnd(t *testing.T) {
	k := startKafkaCluster(t, 1)
	k.mk("topic", "create", "t", "--partitions", "3")
	mkOK(t, "a\nb\nc\n", "--dir", k.dir, "produce", "t", "--partition", "0")
	mkOK(t, "a\nb\nc\nd\ne\n", "--dir", k.dir, "produce", "t", "--partition", "1")
	offs := kadm.Offsets{}
	offs.AddOffset("t", 0, 10, -1) // 7 past the end (3)
	offs.AddOffset("t", 1, 2, -1)  // 3 behind the end (5)
	r, err := k.admin().CommitOffsets(testContext(t), "g", offs)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Error(); err != nil {
		t.Fatal(err)
	}
	bootstrap := strings.Join(k.addrs(), ",")
	for _, where := range [][]string{{"--dir", k.dir}, {"-b", bootstrap}} {
		what := strings.Join(where, " ")
		out := mkOK(t, "", append([]string{"describe", "group", "g"}, where...)...)
		match(t, what, out, `^g\s+t\s+0\s+10\s+3\s+-7\s+-\s+-\s+-$`)
		match(t, what, out, `^g\s+t\s+1\s+2\s+5\s+3\s+-\s+-\s+-$`)
		match(t, what, out, `^g\s+t\s+2\s+-\s+0\s+-\s+-\s+-\s+-$`)
		out = mkOK(t, "", append([]string{"describe", "group", "g", "-o", "json"}, where...)...)
		match(t, what, out, `"current_offset": 10,\s+"log_end_offset": 3,\s+"lag": -7,`)
		match(t, what, out, `"current_offset": -1,\s+"log_end_offset": 0,\s+"lag": null,`)
		out = mkOK(t, "", append([]string{"group", "list"}, where...)...)
		match(t, what, out, `^g\s+\S+\s+Empty\s+0\s+t\s+3$`)
	}
}
