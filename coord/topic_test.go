package coord

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Kafka's TopicTest cases, and the messages mk gives.
func TestValidateTopicName(t *testing.T) {
	long := strings.Repeat("a", 249)
	valid := []string{"valid", "TOPIC", "nAmEs", "ar6", "VaL1d", "_0-9_.", "...", "-", "__consumer_offsets", long}
	for _, name := range valid {
		if err := ValidateTopicName(name); err != nil {
			t.Errorf("ValidateTopicName(%q) = %v", name, err)
		}
	}
	invalid := []struct{ name, msg string }{
		{"", "it is empty"},
		{".", `cannot be "." or ".."`},
		{"..", `cannot be "." or ".."`},
		{long + "a", "250 characters long; the limit is 249"},
		{"foo:bar", "use only ASCII letters"},
		{"foo=bar", "use only ASCII letters"},
		{"foo bar", "use only ASCII letters"},
		{"foo/bar", "use only ASCII letters"},
		{"../x", "use only ASCII letters"},
		{"föö", "use only ASCII letters"},
		{"foo\nbar", "use only ASCII letters"},
	}
	for _, tt := range invalid {
		err := ValidateTopicName(tt.name)
		if !errors.Is(err, ErrInvalidTopic) || !strings.HasPrefix(err.Error(), "invalid topic name ") || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ValidateTopicName(%q) = %v; want ErrInvalidTopic containing %q", tt.name, err, tt.msg)
		}
	}
}

func TestTopicNameCollisions(t *testing.T) {
	tests := []struct {
		existing, name string
		want           error
	}{
		{"foo.bar", "foo_bar", ErrTopicExists},
		{"foo_bar", "foo.bar", ErrTopicExists},
		{"a.b_c", "a_b.c", ErrTopicExists},
		{"foo.bar", "foo.bar", ErrTopicExists},
		{"foo.bar", "foo-bar", nil},
		{"foo", "foo.bar", nil},
	}
	for _, tt := range tests {
		c := newCluster(t)
		registerBrokers(t, c, 1)
		if _, err := c.CreateTopic(tt.existing, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateTopic(tt.name, 1, 1, nil)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("create %q next to %q: %v, want %v", tt.name, tt.existing, err, tt.want)
		}
		if tt.want != nil && tt.name != tt.existing && !strings.Contains(err.Error(), "collides with existing topic "+tt.existing) {
			t.Errorf("collision message: %v", err)
		}
	}
}

func TestCreateTopic(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2, 3)
	tp, err := c.CreateTopic("orders", 6, 3, map[string]string{ConfigRetentionMs: " 3600000 ", ConfigUncleanLeaderElection: "TRUE"})
	if err != nil {
		t.Fatal(err)
	}
	if tp.Version != 1 || len(tp.ID) != 22 || len(tp.Partitions) != 6 || tp.ReplicationFactor() != 3 {
		t.Fatalf("created %+v", tp)
	}
	for _, p := range tp.Partitions {
		if p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) || p.LeaderEpoch != 0 {
			t.Errorf("new partition %+v: want leader = first replica, isr = replicas, epoch 0", p)
		}
	}
	if !(tp.Config[ConfigRetentionMs] == "3600000" && tp.Config[ConfigUncleanLeaderElection] == "true" && len(tp.Config) == 2) {
		t.Errorf("config overrides = %v, want normalized overrides only", tp.Config)
	}
	if tp.Int64Config(ConfigSegmentBytes) != 1073741824 || !tp.BoolConfig(ConfigUncleanLeaderElection) || !tp.ConfigIsDefault(ConfigSegmentBytes) {
		t.Error("effective config wrong")
	}
	read, err := c.Topic("orders")
	if err != nil || read.ID != tp.ID || !slices.EqualFunc(read.Partitions, tp.Partitions, partitionEqual) {
		t.Fatalf("Topic(orders) = %+v, %v", read, err)
	}

	// Cluster defaults for -1.
	tp, err = c.CreateTopic("defaults", -1, -1, nil)
	if err != nil || len(tp.Partitions) != 1 || tp.ReplicationFactor() != 1 {
		t.Fatalf("CreateTopic with -1 = %+v, %v", tp, err)
	}

	errs := []struct {
		name      string
		parts, rf int
		cfg       map[string]string
		want      error
		msg       string
	}{
		{"orders", 1, 1, nil, ErrTopicExists, "topic orders already exists"},
		{"bad name!", 1, 1, nil, ErrInvalidTopic, `invalid topic name "bad name!"`},
		{"zero", 0, 1, nil, ErrInvalidPartitions, "it must be at least 1"},
		{"rf0", 1, 0, nil, ErrInvalidReplicationFactor, "it must be at least 1"},
		{"rf4", 1, 4, nil, ErrInvalidReplicationFactor, "replication factor 4 is larger than the 3 live brokers"},
		{"cfg", 1, 1, map[string]string{"retention.mss": "1"}, ErrInvalidConfig, `unknown topic config "retention.mss"`},
	}
	for _, tt := range errs {
		_, err := c.CreateTopic(tt.name, tt.parts, tt.rf, tt.cfg)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("CreateTopic(%q, %d, %d) = %v; want %v containing %q", tt.name, tt.parts, tt.rf, err, tt.want, tt.msg)
		}
	}
	names := func() []string {
		ts, err := c.Topics()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tp := range ts {
			out = append(out, tp.Name)
		}
		return out
	}
	// A stray temporary file is not a topic.
	os.WriteFile(filepath.Join(c.topicsDir(), ".orders.json.tmp-123"), []byte("x"), 0o644)
	if got := names(); !slices.Equal(got, []string{"defaults", "orders"}) {
		t.Errorf("Topics() = %v", got)
	}
}

func TestCreateTopicNeedsALiveBroker(t *testing.T) {
	c := newCluster(t)
	_, err := c.CreateTopic("t", 1, 1, nil)
	if !errors.Is(err, ErrNoBroker) || err.Error() != "no broker is running in "+c.Dir()+"; start one with mk cluster start" {
		t.Fatalf("CreateTopic with no broker = %v", err)
	}
	if _, err := c.Topic("t"); !errors.Is(err, ErrUnknownTopic) || err.Error() != "unknown topic t" {
		t.Fatalf("Topic(t) = %v", err)
	}
}

func TestAlterTopic(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2, 3)
	if _, err := c.CreateTopic("grow", 2, 2, map[string]string{ConfigRetentionMs: "1000", ConfigFlushMs: "5"}); err != nil {
		t.Fatal(err)
	}
	tp, err := c.AlterTopic("grow", 7, map[string]string{ConfigSegmentMs: "60000"}, []string{ConfigFlushMs})
	if err != nil {
		t.Fatal(err)
	}
	if tp.Version != 2 || len(tp.Partitions) != 7 {
		t.Fatalf("altered topic: version %d, %d partitions", tp.Version, len(tp.Partitions))
	}
	wantCfg := map[string]string{ConfigRetentionMs: "1000", ConfigSegmentMs: "60000"}
	if len(tp.Config) != 2 || tp.Config[ConfigRetentionMs] != "1000" || tp.Config[ConfigSegmentMs] != "60000" {
		t.Errorf("config = %v, want %v", tp.Config, wantCfg)
	}
	// The new partitions continue the placement: same as creating with 7.
	if want := assignReplicas("grow", []int{1, 2, 3}, 0, 7, 2); !slices.EqualFunc(replicasOf(tp), want, slices.Equal) {
		t.Errorf("replicas after adding partitions %v, want %v", replicasOf(tp), want)
	}
	if p := tp.Partitions[6]; p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) || p.Partition != 6 {
		t.Errorf("new partition %+v", p)
	}

	// 0 and the current count change no partitions.
	for _, n := range []int{0, 7} {
		if tp, err := c.AlterTopic("grow", n, nil, nil); err != nil || len(tp.Partitions) != 7 {
			t.Fatalf("AlterTopic(grow, %d) = %v", n, err)
		}
	}
	errs := []struct {
		name  string
		parts int
		set   map[string]string
		del   []string
		want  error
		msg   string
	}{
		{"grow", 3, nil, nil, ErrInvalidPartitions, "topic grow has 7 partitions and cannot shrink to 3"},
		{"grow", 0, map[string]string{ConfigMinInsyncReplicas: "0"}, nil, ErrInvalidConfig, "min.insync.replicas"},
		{"grow", 0, nil, []string{"nope"}, ErrInvalidConfig, `unknown topic config "nope"`},
		{"grow", 0, map[string]string{ConfigRetentionMs: "1"}, []string{ConfigRetentionMs}, ErrInvalidConfig, "both set and deleted"},
		{"grow", 8, nil, nil, nil, ""},
		{"missing", 0, nil, nil, ErrUnknownTopic, "unknown topic missing"},
	}
	for _, tt := range errs {
		_, err := c.AlterTopic(tt.name, tt.parts, tt.set, tt.del)
		if tt.want == nil {
			if err != nil {
				t.Errorf("AlterTopic(%s, %d) = %v", tt.name, tt.parts, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("AlterTopic(%s, %d, %v, %v) = %v; want %v containing %q", tt.name, tt.parts, tt.set, tt.del, err, tt.want, tt.msg)
		}
	}
}

func replicasOf(tp *Topic) [][]int {
	var out [][]int
	for _, p := range tp.Partitions {
		out = append(out, p.Replicas)
	}
	return out
}

func TestUpdateTopicKeepsInvariants(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2)
	if _, err := c.CreateTopic("t", 2, 2, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func(*Topic) error
		want error
	}{
		{"rename", func(tp *Topic) error { tp.Name = "u"; return nil }, ErrInvalidUpdate},
		{"new id", func(tp *Topic) error { tp.ID = "y"; return nil }, ErrInvalidUpdate},
		{"drop partition", func(tp *Topic) error { tp.Partitions = tp.Partitions[:1]; return nil }, ErrInvalidUpdate},
		{"epoch back", func(tp *Topic) error { tp.Partitions[0].LeaderEpoch = -1; return nil }, ErrInvalidUpdate},
		{"empty isr", func(tp *Topic) error { tp.Partitions[0].ISR = nil; return nil }, ErrInvalidUpdate},
		{"leader outside replicas", func(tp *Topic) error { tp.Partitions[0].Leader = 5; return nil }, ErrInvalidUpdate},
		{"bad config", func(tp *Topic) error { tp.Config[ConfigSegmentBytes] = "13"; return nil }, ErrInvalidUpdate},
		{"fn error", func(tp *Topic) error { return ErrNotController }, ErrNotController},
		{"isr shrink", func(tp *Topic) error { tp.Partitions[0].ISR = tp.Partitions[0].ISR[:1]; return nil }, nil},
	}
	version := int64(1)
	for _, tt := range tests {
		tp, err := c.UpdateTopic("t", tt.fn)
		if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: UpdateTopic = %v, want %v", tt.name, err, tt.want)
		}
		if err == nil {
			version++
			if tp.Version != version {
				t.Errorf("%s: version %d, want %d", tt.name, tp.Version, version)
			}
		}
		if read, _ := c.Topic("t"); read.Version != version {
			t.Errorf("%s: stored version %d, want %d (a failed update must write nothing)", tt.name, read.Version, version)
		}
	}
}

func TestDeleteTopic(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1, 2)
	tp, err := c.CreateTopic("gone", 2, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Partition directories, and a neighbour that only shares a prefix.
	for _, d := range []string{c.PartitionDir(1, "gone", 0), c.PartitionDir(2, "gone", 1), c.PartitionDir(1, "gone-x", 0)} {
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "00000000000000000000.log"), []byte("data"), 0o644)
	}
	if err := c.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Topic("gone"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("Topic after delete = %v", err)
	}
	for _, d := range []string{c.PartitionDir(1, "gone", 0), c.PartitionDir(2, "gone", 1)} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the delete: %v", d, err)
		}
	}
	if _, err := os.Stat(c.PartitionDir(1, "gone-x", 0)); err != nil {
		t.Errorf("another topic's directory was removed: %v", err)
	}
	if err := c.DeleteTopic("gone"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second DeleteTopic = %v", err)
	}
	again, err := c.CreateTopic("gone", 1, 1, nil)
	if err != nil || again.ID == tp.ID {
		t.Fatalf("re-created topic: %v; id %s (old %s) must differ", err, again.ID, tp.ID)
	}
}

// One listing for everyone: a topic exists while meta/topics holds an
// entry of its name, whatever the entry is. A symbolic link to a copy is
// the topic; an entry that cannot be read is an unreadable topic, never a
// deleted one; names that are not topic files are not topics.
func TestListTopicsAgreesOnWhatExists(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	for _, name := range []string{"plain", "sy", "dangling", "dir", "fifo", "corrupt"} {
		if _, err := c.CreateTopic(name, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	dir := c.topicsDir()
	// sy.json: a symbolic link to an identical copy elsewhere.
	copyPath := filepath.Join(t.TempDir(), "sy-copy.json")
	data, err := os.ReadFile(c.topicPath("sy"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(copyPath, data, 0o644))
	must(t, os.Remove(c.topicPath("sy")))
	must(t, os.Symlink(copyPath, c.topicPath("sy")))
	// dangling.json: a symbolic link to nothing.
	must(t, os.Remove(c.topicPath("dangling")))
	must(t, os.Symlink(filepath.Join(t.TempDir(), "nothing.json"), c.topicPath("dangling")))
	// dir.json: a directory; fifo.json: a FIFO (reading it would block).
	must(t, os.Remove(c.topicPath("dir")))
	must(t, os.Mkdir(c.topicPath("dir"), 0o755))
	must(t, os.Remove(c.topicPath("fifo")))
	must(t, syscall.Mkfifo(c.topicPath("fifo"), 0o644))
	must(t, os.WriteFile(c.topicPath("corrupt"), []byte("garbage{"), 0o644))
	// Not topic files at all.
	must(t, os.WriteFile(filepath.Join(dir, ".tmp-12345"), data, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "bad name!.json"), data, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), data, 0o644))

	topics, unreadable, err := c.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tp := range topics {
		got = append(got, tp.Name)
	}
	if want := []string{"plain", "sy"}; !slices.Equal(got, want) {
		t.Errorf("readable topics %v, want %v", got, want)
	}
	wantBad := map[string]string{
		"corrupt":  "invalid character",
		"dangling": "symbolic link to a file that does not exist",
		"dir":      "not a regular file",
		"fifo":     "not a regular file",
	}
	for _, u := range unreadable {
		msg, ok := wantBad[u.Name]
		if !ok || !strings.Contains(u.Err.Error(), msg) || !errors.Is(u.Err, ErrCorruptMetadata) {
			t.Errorf("unreadable %s: %v; want ErrCorruptMetadata containing %q", u.Name, u.Err, msg)
		}
		delete(wantBad, u.Name)
	}
	for name := range wantBad {
		t.Errorf("%s is not reported unreadable", name)
	}
	if tp, err := c.Topic("sy"); err != nil || tp.Name != "sy" {
		t.Errorf("Topic(sy) through a symbolic link = %v, %v", tp, err)
	}
	for _, name := range []string{"dangling", "dir", "fifo", "corrupt"} {
		if _, err := c.Topic(name); errors.Is(err, ErrUnknownTopic) || err == nil {
			t.Errorf("Topic(%s) = %v; an unreadable topic file is not an unknown topic", name, err)
		}
	}
	// A topic whose entry exists cannot be created again over it.
	for _, name := range []string{"sy", "dangling", "dir"} {
		if _, err := c.CreateTopic(name, 1, 1, nil); !errors.Is(err, ErrTopicExists) {
			t.Errorf("CreateTopic(%s) over an existing entry = %v; want ErrTopicExists", name, err)
		}
	}
	if _, err := c.Topics(); !errors.Is(err, ErrCorruptMetadata) {
		t.Errorf("Topics() = %v; want the first unreadable file's error", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Deleting a topic removes its replicas, not a newer topic's of the same
// name (another topic id), nor one whose partition.metadata cannot be read:
// those are kept and named in the error.
func TestDeleteTopicRemovesOnlyItsOwnReplicas(t *testing.T) {
	c := newCluster(t)
	registerBrokers(t, c, 1)
	tp, err := c.CreateTopic("gone", 3, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[int]string{
		0: "version: 0\ntopic_id: " + tp.ID + "\n", // its own
		1: "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA\n",
		2: "", // unreadable
	}
	for p, m := range meta {
		d := c.PartitionDir(1, "gone", p)
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "00000000000000000000.log"), []byte("data"), 0o644))
		must(t, os.WriteFile(filepath.Join(d, "partition.metadata"), []byte(m), 0o644))
	}
	err = c.DeleteTopic("gone")
	if err == nil || !strings.Contains(err.Error(), "topic gone deleted but "+c.PartitionDir(1, "gone", 2)+" kept: unreadable partition.metadata") {
		t.Fatalf("DeleteTopic = %v; want it to name the replica it kept", err)
	}
	if _, err := c.Topic("gone"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("Topic after delete = %v", err)
	}
	if _, err := os.Stat(c.PartitionDir(1, "gone", 0)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the topic's own replica survived: %v", err)
	}
	for _, p := range []int{1, 2} {
		if _, err := os.Stat(filepath.Join(c.PartitionDir(1, "gone", p), "00000000000000000000.log")); err != nil {
			t.Errorf("replica gone-%d was removed: %v", p, err)
		}
	}
}
