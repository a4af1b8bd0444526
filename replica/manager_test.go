package replica

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mk/coord"
	"mk/logdir"
)

// logCollector gathers a Manager's log lines.
type logCollector struct {
	mu    sync.Mutex
	lines []string
}

func (lc *logCollector) logf(format string, args ...any) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.lines = append(lc.lines, fmt.Sprintf(format, args...))
}

func (lc *logCollector) has(s string) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, l := range lc.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// oneBroker makes a cluster directory with broker 1 registered (alive
// until the test ends) and topics of one partition there.
func oneBroker(t *testing.T, topics ...string) *coord.Cluster {
	t.Helper()
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.RegisterBroker(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, name := range topics {
		if _, err := c.CreateTopic(name, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// topicWithData makes topic t (one partition on broker 1) and a replica
// of it holding 6 records, closed again.
func topicWithData(t *testing.T) (*coord.Cluster, *coord.Topic, string) {
	t.Helper()
	c := oneBroker(t, "t")
	tp, err := c.Topic("t")
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(c, 1, Options{Logf: t.Logf})
	r, err := m.open(tp, tp.Partitions[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.log.BecomeLeader(0, true); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, r.log, 0, "a", 3)
	r.log.Close()
	return c, tp, r.dir
}

// Only a topic id that can be read and differs from the topic's makes the
// broker remove a replica. A partition.metadata that cannot be read leaves
// the replica closed, its bytes kept, and says what to do.
func TestOpenWithDamagedPartitionMetadata(t *testing.T) {
	const otherID = "AAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name    string
		content func(id string) string // nil: remove the file
		removed bool                   // the old data is gone
		refused string                 // open fails with this
	}{
		{"intact", func(id string) string { return "version: 0\ntopic_id: " + id + "\n" }, false, ""},
		{"missing", nil, false, ""},
		{"no trailing newline", func(id string) string { return "version: 0\ntopic_id: " + id }, false, ""},
		{"empty", func(string) string { return "" }, false, "it is empty"},
		{"id cut short", func(id string) string { return "version: 0\ntopic_id: " + id[:10] }, false, "is not 16 bytes"},
		{"garbage", func(string) string { return "\x00\x01\x02garbage" }, false, "not the two lines"},
		{"older topic", func(string) string { return "version: 0\ntopic_id: " + otherID + "\n" }, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, tp, dir := topicWithData(t)
			path := filepath.Join(dir, logdir.PartitionMetadataFile)
			if tt.content == nil {
				os.Remove(path)
			} else if err := os.WriteFile(path, []byte(tt.content(tp.ID)), 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			var lc logCollector
			m := NewManager(c, 1, Options{Logf: lc.logf})
			r, err := m.open(tp, tp.Partitions[0])
			if tt.refused != "" {
				if err == nil || !errors.Is(err, logdir.ErrBadPartitionMetadata) || !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), "its data kept") {
					t.Fatalf("open = %v; want a refusal saying %q", err, tt.refused)
				}
				if got := len(segmentsOf(t, dir)); got == 0 {
					t.Fatal("the replica's records are gone")
				}
				if after, _ := os.ReadFile(path); string(after) != string(before) {
					t.Fatalf("partition.metadata rewritten from %q to %q", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.log.Close()
			want := int64(6)
			if tt.removed {
				want = 0
				if !lc.has("belongs to an older topic t (topic id " + otherID) {
					t.Errorf("removal not reported: %q", lc.lines)
				}
			}
			if got := state(t, r.log).LogEndOffset; got != want {
				t.Fatalf("log end offset %d after open, want %d", got, want)
			}
			if id, err := logdir.ReadPartitionMetadata(dir); err != nil || id != tp.ID {
				t.Fatalf("partition.metadata after open: %q, %v", id, err)
			}
		})
	}
}

// At its start a broker removes the replicas of topics that no longer
// exist, and of older topics of the same name; never one whose topic file
// or partition.metadata cannot be read.
func TestSweepRemovesOnlyWhatIsKnownDeleted(t *testing.T) {
	c := oneBroker(t, "live")
	bad, err := c.CreateTopic("bad", 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, meta string) string {
		dir := filepath.Join(c.BrokerDataDir(1), name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), []byte("data"), 0o644)
		if meta != "-" {
			os.WriteFile(filepath.Join(dir, logdir.PartitionMetadataFile), []byte(meta), 0o644)
		}
		return dir
	}
	const oldID = "AAAAAAAAAAAAAAAAAAAAAA"
	gone := mk("gone-0", "version: 0\ntopic_id: "+oldID+"\n")           // topic deleted
	noMeta := mk("gone-1", "-")                                         // deleted, never got its partition.metadata
	older := mk("live-3", "version: 0\ntopic_id: "+oldID+"\n")          // an older "live" had 4 partitions
	damaged := mk("gone-2", "")                                         // whose? unknown
	unreadableTopic := mk("bad-1", "version: 0\ntopic_id: "+oldID+"\n") // its topic file is corrupt
	notOurs := mk("my backup-0", "-")                                   // not a topic name
	badOwn := mk("bad-0", "version: 0\ntopic_id: "+bad.ID+"\n")
	if err := os.WriteFile(filepath.Join(c.TopicsMetaDir(), "bad.json"), []byte("garbage{"), 0o644); err != nil {
		t.Fatal(err)
	}

	var lc logCollector
	m := NewManager(c, 1, Options{Logf: lc.logf, Backstop: time.Hour})
	m.reconcile(t.Context(), true)
	settle(t, m)
	defer m.shutdown()
	for _, d := range []string{gone, noMeta, older} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was not removed: %v", d, err)
		}
	}
	for _, d := range []string{damaged, unreadableTopic, notOurs, badOwn, c.PartitionDir(1, "live", 0)} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
	for _, want := range []string{
		"removing replica gone-0 of a deleted topic",
		"removing replica live-3 of an older topic live (topic id " + oldID + ")",
		"keeping replica gone-2 of no current partition: unreadable partition.metadata",
		"read topic bad: corrupt metadata file",
	} {
		if !lc.has(want) {
			t.Errorf("not logged: %q; log: %q", want, lc.lines)
		}
	}
}

// settle reconciles until no recovery is under way, as Run does when the
// recoveries it started finish.
func settle(t *testing.T, m *Manager) {
	t.Helper()
	for len(m.recovering) > 0 {
		select {
		case <-m.recoveredSignal:
			m.reconcile(t.Context(), false)
		case <-time.After(10 * time.Second):
			t.Fatalf("recoveries still under way: %d", len(m.recovering))
		}
	}
}
