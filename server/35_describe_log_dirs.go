package server

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"mk/replica"
)

// DescribeLogDirs v0-v4 (v2+ flexible, v3+ a top-level error code, v4+
// the file system's total and usable bytes), as Kafka's
// ReplicaManager.describeLogDirs answers it. An mk broker has one log
// directory, <dir>/brokers/<id> (its absolute path), holding every
// replica the broker has opened. Each replica asked for (null topics:
// all of them) is listed under its topic with the bytes of its segment
// files (what mk describe topic shows), its offset lag (the log end's
// lag behind the high watermark: 0 but for a replica whose high
// watermark ran ahead of its log) and is-future false (mk does not move
// replicas between directories). Partitions this broker holds no replica
// of, unknown topics and partitions out of range are left out, as Kafka
// leaves them; a topic with none of its partitions asked for is left out
// too. The directory is listed even when it holds nothing asked for. mk
// has no authorizer: describing the cluster is always allowed.
//
// Cost: the partitions asked for make a set (as large as the request,
// which MaxRequestBytes bounds), looked up once per local replica; no
// named partition costs a file read.
func init() { register(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	s := r.c.s
	var want func(string, int32) bool
	if req.Topics != nil {
		asked := map[string]map[int32]bool{}
		for _, t := range req.Topics {
			ps := asked[t.Topic]
			if ps == nil {
				ps = map[int32]bool{}
				asked[t.Topic] = ps
			}
			for _, p := range t.Partitions {
				ps[p] = true
			}
		}
		want = func(topic string, p int32) bool { return asked[topic][p] }
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = s.cfg.Replicas.LogDir()
	if r.version >= 4 {
		dir.TotalBytes, dir.UsableBytes = s.cfg.Replicas.LogDirSpace()
	}
	reps := s.cfg.Replicas.ReplicaSizes(want)
	slices.SortFunc(reps, func(a, b replica.ReplicaSize) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, rs := range reps {
		if n := len(dir.Topics); n == 0 || dir.Topics[n-1].Topic != rs.Topic {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = rs.Topic
			dir.Topics = append(dir.Topics, t)
		}
		t := &dir.Topics[len(dir.Topics)-1]
		p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		p.Partition, p.Size, p.OffsetLag = rs.Partition, rs.Size, rs.OffsetLag
		t.Partitions = append(t.Partitions, p)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}
