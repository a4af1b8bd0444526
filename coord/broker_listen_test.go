package coord

import "testing"

// A new registration keeps the previous listen address (so mk cluster
// start can restart the broker on its port even after a start that failed
// before binding) but not the advertised one, which only a bound listener
// may publish.
func TestRegistrationKeepsListenAddress(t *testing.T) {
	c := newCluster(t)
	s, err := c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetListener("127.0.0.1:9092", "localhost:9092"); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Broker(1); b.Listen != "127.0.0.1:9092" || b.Address != "localhost:9092" {
		t.Fatalf("registered %q advertised %q", b.Listen, b.Address)
	}
	s.Close()
	s, err = c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, _ := c.Broker(1)
	if b.Listen != "127.0.0.1:9092" || b.Address != "" || s.Info().Listen != "127.0.0.1:9092" {
		t.Fatalf("after a new registration: listen %q, address %q", b.Listen, b.Address)
	}
	if err := s.SetListener("", ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Broker(1); b.Listen != "" || b.Address != "" {
		t.Fatalf("cleared: listen %q, address %q", b.Listen, b.Address)
	}
}
