package cluster

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestKafkaDescribeSizes: sizes come from DescribeLogDirs where the
// cluster answers it (every partition named, so a broker that lists only
// what is named lists them all), and are unknown (-1, `-` in tables) where
// a broker does not serve it or refuses it, the rest of the view intact.
func TestKafkaDescribeSizes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []kfake.Opt
		setup func(*kfake.Cluster)
		sized bool
	}{
		{name: "served", sized: true},
		{name: "unsupported", opts: []kfake.Opt{kfake.MaxVersions(func() *kversion.Versions {
			vs := kversion.Stable()
			vs.SetMaxKeyVersion(35, -1)
			return vs
		}())}},
		{name: "refused", setup: func(c *kfake.Cluster) {
			c.ControlKey(35, func(kr kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				resp := kr.(*kmsg.DescribeLogDirsRequest).ResponseKind().(*kmsg.DescribeLogDirsResponse)
				resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				return resp, nil, true
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startKfake(t, append([]kfake.Opt{kfake.NumBrokers(2)}, tc.opts...)...)
			if tc.setup != nil {
				tc.setup(c)
			}
			k := dial(t, c)
			if _, err := k.CreateTopic(ctx(t), TopicSpec{Name: "orders", Partitions: 2, ReplicationFactor: 1}); err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.ProduceSync(ctx(t), &kgo.Record{Topic: "orders", Partition: 1, Value: []byte("a record")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			v, err := k.Topic(ctx(t), "orders")
			if err != nil {
				t.Fatal(err)
			}
			p0, p1 := v.Partitions[0], v.Partitions[1]
			if p1.HighWatermark != 1 {
				t.Fatalf("partition 1: %+v", p1)
			}
			if tc.sized != (p0.SizeBytes == 0 && p1.SizeBytes > 0) || !tc.sized && (p0.SizeBytes != -1 || p1.SizeBytes != -1) {
				t.Fatalf("sizes %d and %d", p0.SizeBytes, p1.SizeBytes)
			}
			cv, _, err := k.DescribeCluster(ctx(t))
			if err != nil || len(cv.Brokers) != 2 {
				t.Fatalf("cluster %+v %v", cv, err)
			}
			// (kfake lists every partition in every broker's directory,
			// whatever the replicas: each broker's size is the topic's.)
			for _, b := range cv.Brokers {
				if tc.sized && b.SizeBytes != p1.SizeBytes || !tc.sized && b.SizeBytes != -1 {
					t.Fatalf("broker %+v; partition 1 of %d bytes", b, p1.SizeBytes)
				}
			}
		})
	}
}
