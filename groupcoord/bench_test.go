package groupcoord

import (
	"testing"

	"mk/coord"
)

// BenchmarkCoordinatorFor is what every group request pays to learn
// whether this broker coordinates the group (the live brokers are probed).
func BenchmarkCoordinatorFor(b *testing.B) {
	c, err := coord.Init(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for id := 1; id <= 3; id++ {
		s, err := c.RegisterBroker(id)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
	}
	co := New(Config{Cluster: c, BrokerID: 1})
	b.ResetTimer()
	for range b.N {
		if _, ok := co.CoordinatorFor("g"); !ok {
			b.Fatal("no coordinator")
		}
	}
}
