package client

import (
	"errors"
	"os"
	"testing"

	"mk/coord"
)

// TestTopicGuard: the guard of a topic a client uses tells a deletion (and
// a re-creation under the same name) from the topic's ordinary changes.
func TestTopicGuard(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, c *coord.Cluster)
		wantErr string // "" for none
	}{
		{"unchanged", func(*testing.T, *coord.Cluster) {}, ""},
		{"altered", func(t *testing.T, c *coord.Cluster) {
			if _, err := c.AlterTopic("t", 3, map[string]string{"retention.ms": "1000"}, nil); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"deleted", func(t *testing.T, c *coord.Cluster) {
			if err := c.DeleteTopic("t"); err != nil {
				t.Fatal(err)
			}
		}, "topic t was deleted while consuming it"},
		{"deleted and created again", func(t *testing.T, c *coord.Cluster) {
			if err := c.DeleteTopic("t"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CreateTopic("t", 2, 1, nil); err != nil {
				t.Fatal(err)
			}
		}, "topic t was deleted and created again while consuming it"},
		{"unreadable is not deleted", func(t *testing.T, c *coord.Cluster) {
			if err := os.WriteFile(c.TopicPath("t"), []byte("{garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := coord.Init(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.RegisterBroker(1)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if _, err := c.CreateTopic("t", 2, 1, nil); err != nil {
				t.Fatal(err)
			}
			g := newTopicGuard("t", "consuming")
			if got, err := g.check(c); err != nil || got == nil {
				t.Fatalf("first check = %v, %v; want the topic", got, err)
			}
			if got, err := g.check(c); err != nil || got != nil {
				t.Fatalf("check of an unchanged file = %v, %v; want nil, nil (no read)", got, err)
			}
			tt.change(t, c)
			for i := 0; i < 2; i++ { // the same answer when asked again
				_, err := g.check(c)
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("check %d = %v; want no error", i, err)
					}
					continue
				}
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("check %d = %v; want %q", i, err, tt.wantErr)
				}
				if !errors.Is(err, ErrTopicDeleted) || !errors.Is(err, coord.ErrUnknownTopic) {
					t.Fatalf("check %d = %v: want ErrTopicDeleted and coord.ErrUnknownTopic", i, err)
				}
			}
			// A lookup that finds no topic, once the topic was seen, is a
			// deletion too.
			if _, err := c.Topic("t"); errors.Is(err, coord.ErrUnknownTopic) {
				if got := g.lookupErr(err); !errors.Is(got, ErrTopicDeleted) {
					t.Fatalf("lookupErr(%v) = %v; want ErrTopicDeleted", err, got)
				}
			}
		})
	}
}
