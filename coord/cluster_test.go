package coord

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestInitIsIdempotentAcrossConcurrentCallers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := Init(dir)
			errs[i] = err
			if err == nil {
				ids[i] = c.ID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[i] != ids[0] || len(ids[i]) != 22 {
			t.Fatalf("cluster ids differ or are malformed: %q", ids)
		}
	}
	for _, sub := range []string{"meta/brokers", "meta/topics", "meta/groups", "brokers", "cluster.json"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Error(err)
		}
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := ClusterConfig{AutoCreateTopics: true, NumPartitions: 1, DefaultReplicationFactor: 1, AutoLeaderRebalance: true}
	if c.ClusterConfig() != want {
		t.Errorf("ClusterConfig() = %+v, want %+v", c.ClusterConfig(), want)
	}
	if got, want := c.PartitionDir(3, "orders", 2), filepath.Join(dir, "brokers", "3", "orders-2"); got != want {
		t.Errorf("PartitionDir = %s, want %s", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string // cluster.json; "" = no file
		want    error
		msg     string
	}{
		{"missing", "", ErrNoCluster, "no mk cluster in "},
		{"garbage", "\x00\x01garbage", ErrCorruptMetadata, "corrupt metadata file "},
		{"truncated", `{"cluster_id": "abc", "format_ver`, ErrCorruptMetadata, "cluster.json: "},
		{"no id", `{"format_version": 1, "created": "2024-01-01T00:00:00Z"}`, ErrCorruptMetadata, "missing cluster_id"},
		{"bad config", `{"cluster_id": "x", "format_version": 1, "created": "2024-01-01T00:00:00Z", "config": {"num.partitions": "0"}}`, ErrCorruptMetadata, "num.partitions"},
		{"newer format", `{"cluster_id": "x", "format_version": 2, "created": "2024-01-01T00:00:00Z"}`, ErrFormatVersion, "upgrade mk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != "" {
				os.WriteFile(filepath.Join(dir, "cluster.json"), []byte(tt.content), 0o644)
			}
			_, err := Open(dir)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Open: %v; want %v containing %q", err, tt.want, tt.msg)
			}
			if strings.Contains(err.Error(), "\n") || err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
				t.Errorf("error is not one lower-case line: %q", err)
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	tests := []struct {
		mkDir, xdg, home, want string
	}{
		{"/tmp/x", "/data", "/home/u", "/tmp/x"},
		{"", "/data", "/home/u", "/data/mk"},
		{"", "relative", "/home/u", "/home/u/.local/share/mk"},
		{"", "", "/home/u", "/home/u/.local/share/mk"},
	}
	for _, tt := range tests {
		t.Setenv("MK_DIR", tt.mkDir)
		t.Setenv("XDG_DATA_HOME", tt.xdg)
		t.Setenv("HOME", tt.home)
		got, err := DefaultDir()
		if err != nil || got != tt.want {
			t.Errorf("DefaultDir() with MK_DIR=%q XDG_DATA_HOME=%q = %q, %v; want %q", tt.mkDir, tt.xdg, got, err, tt.want)
		}
	}
}

// A reader that never locks sees a whole topic file, old or new, however
// often a writer replaces it: never a torn or mixed one.
func TestTopicFileReadersNeverSeeAPartialWrite(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	if _, err := c.CreateTopic("atomic", 3, 1, nil); err != nil {
		t.Fatal(err)
	}
	const writes = 200
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	var errOnce sync.Once
	var seen atomic.Int64 // versions seen, summed over readers
	fail := func(err error) { errOnce.Do(func() { readErr = err }) }
	for r := range 4 {
		wg.Go(func() {
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Let the writer run: its many syscalls each give up the
				// CPU, and spinning readers would starve it.
				runtime.Gosched()
				var tp *Topic
				if r%2 == 0 { // through the API
					var err error
					if tp, err = c.Topic("atomic"); err != nil {
						fail(err)
						return
					}
				} else { // raw bytes, as cat would see them
					data, err := os.ReadFile(c.topicPath("atomic"))
					if err != nil {
						fail(err)
						return
					}
					tp = &Topic{}
					if err := json.Unmarshal(data, tp); err != nil {
						fail(err)
						return
					}
				}
				// The writer ties the config to the version: a mix of two
				// versions would break the tie.
				want := "delete"
				if tp.Version%2 == 0 {
					want = "LogAppendTime"
				}
				if tp.Int64Config(ConfigRetentionMs) != tp.Version*1000 && tp.Version > 1 ||
					tp.Version > 1 && tp.ConfigValue(map[bool]string{true: ConfigMessageTimestampType, false: ConfigCleanupPolicy}[tp.Version%2 == 0]) != want {
					fail(errors.New("mixed topic file: " + tp.ConfigValue(ConfigRetentionMs)))
					return
				}
				if tp.Version != last {
					seen.Add(1)
				}
				if tp.Version < last {
					fail(errors.New("version went backwards"))
					return
				}
				last = tp.Version
			}
		})
	}
	for range writes {
		_, err := c.UpdateTopic("atomic", func(tp *Topic) error {
			next := tp.Version + 1
			tp.Config[ConfigRetentionMs] = itoa64(next * 1000)
			// Alternate which of two keys is set, so a mix of versions shows.
			delete(tp.Config, ConfigCleanupPolicy)
			delete(tp.Config, ConfigMessageTimestampType)
			if next%2 == 0 {
				tp.Config[ConfigMessageTimestampType] = "LogAppendTime"
			} else {
				tp.Config[ConfigCleanupPolicy] = "delete"
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if seen.Load() < 20 {
		t.Fatalf("readers saw only %d versions in %d writes: the test did not race them", seen.Load(), writes)
	}
}

// Writers in different Cluster values (so only the flock on meta/lock
// separates them, as between processes) never lose each other's update.
func TestConcurrentUpdatesAreSerialized(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	if _, err := c.CreateTopic("counter", 1, 1, map[string]string{ConfigRetentionMs: "0"}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 40
	var wg sync.WaitGroup
	for range writers {
		wc, err := Open(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range each {
				_, err := wc.UpdateTopic("counter", func(tp *Topic) error {
					tp.Config[ConfigRetentionMs] = itoa64(tp.Int64Config(ConfigRetentionMs) + 1)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tp, err := c.Topic("counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := tp.Int64Config(ConfigRetentionMs); got != writers*each || tp.Version != 1+writers*each {
		t.Fatalf("after %d updates: counter %d, version %d", writers*each, got, tp.Version)
	}
}

func TestCorruptTopicFileIsNamed(t *testing.T) {
	valid := `{"name":"t","topic_id":"x","version":1,"config":{},"partitions":[{"partition":0,"replicas":[1],"leader":1,"leader_epoch":0,"isr":[1]}]}`
	tests := []struct {
		name, content, msg string
	}{
		{"garbage", "\x00\x00\x00\x00", "invalid character"},
		{"empty", "", "unexpected end of JSON input"},
		{"torn", valid[:len(valid)/2], "unexpected end"},
		{"other topic", strings.Replace(valid, `"name":"t"`, `"name":"u"`, 1), `holds topic "u"`},
		{"misnumbered", strings.Replace(valid, `"partition":0`, `"partition":1`, 1), "partition 1 is listed at position 0"},
		{"leader not replica", strings.Replace(valid, `"leader":1`, `"leader":2`, 1), "leader 2 is not a replica"},
		{"empty isr", strings.Replace(valid, `"isr":[1]`, `"isr":[]`, 1), "empty isr"},
		{"bad config", strings.Replace(valid, `"config":{}`, `"config":{"retention.ms":"soon"}`, 1), "retention.ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			path := c.topicPath("t")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, op := range []func() error{
				func() error { _, err := c.Topic("t"); return err },
				func() error { _, err := c.Topics(); return err },
				func() error { _, err := c.UpdateTopic("t", func(*Topic) error { return nil }); return err },
			} {
				err := op()
				if !errors.Is(err, ErrCorruptMetadata) || !strings.Contains(err.Error(), "corrupt metadata file "+path+": ") || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("got %v; want corrupt metadata file %s: ...%s", err, path, tt.msg)
				}
			}
		})
	}
}
