package coord

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"mk/logdir"
)

// FormatVersion is the cluster directory format this build reads and
// writes. A cluster.json with a higher version was written by a newer mk,
// whose files this build might misread, so Open refuses it.
const FormatVersion = 1

// Cluster-wide settings in cluster.json, with Kafka's broker config names.
const (
	ClusterAutoCreateTopics         = "auto.create.topics.enable"
	ClusterNumPartitions            = "num.partitions"
	ClusterDefaultReplicationFactor = "default.replication.factor"
	ClusterAutoLeaderRebalance      = "auto.leader.rebalance.enable"
)

// clusterConfigDefaults are Kafka's broker defaults for the settings above.
var clusterConfigDefaults = map[string]string{
	ClusterAutoCreateTopics:         "true",
	ClusterNumPartitions:            "1",
	ClusterDefaultReplicationFactor: "1",
	ClusterAutoLeaderRebalance:      "true",
}

// clusterFile is cluster.json.
type clusterFile struct {
	ClusterID     string            `json:"cluster_id"`
	FormatVersion int               `json:"format_version"`
	Created       string            `json:"created"` // RFC 3339
	Config        map[string]string `json:"config"`
}

// ClusterConfig is the cluster-wide configuration from cluster.json.
type ClusterConfig struct {
	// AutoCreateTopics: produce or consume of an unknown topic creates it
	// (auto.create.topics.enable, default true).
	AutoCreateTopics bool
	// NumPartitions: partitions of a topic created without a count
	// (num.partitions, default 1).
	NumPartitions int
	// DefaultReplicationFactor: replication factor of a topic created
	// without one (default.replication.factor, default 1).
	DefaultReplicationFactor int
	// AutoLeaderRebalance: the controller gives leadership back to each
	// partition's preferred replica every LeaderImbalanceCheckInterval
	// (auto.leader.rebalance.enable, default true).
	AutoLeaderRebalance bool
}

// Cluster is an open cluster directory. It holds no open files: every
// method reads the files it needs, so a Cluster never goes stale, and many
// processes may have the same directory open. Safe for concurrent use.
type Cluster struct {
	dir     string
	id      string
	created time.Time
	config  ClusterConfig
	// metaMu serializes this process's goroutines before they compete for
	// meta/lock, so they queue fairly instead of polling each other.
	metaMu sync.Mutex
}

// DefaultDir returns the cluster directory used when no --dir is given:
// $MK_DIR if set, else $XDG_DATA_HOME/mk, else ~/.local/share/mk. It is a
// data directory, not a cache (os.UserCacheDir), because topics hold data
// that must not be swept away by a cache cleaner; the XDG location is used
// on every Unix, macOS included, so the path is the same wherever mk runs.
func DefaultDir() (string, error) {
	if d := os.Getenv("MK_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mk"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot choose a cluster directory: %v; set MK_DIR or use --dir", err)
	}
	return filepath.Join(home, ".local", "share", "mk"), nil
}

// Init creates the cluster directory layout in dir if it is missing and
// opens it. It is idempotent and safe to run from many processes at once:
// the directories are created with MkdirAll and cluster.json is written
// only once, under meta/lock, so every caller gets the same cluster id.
func Init(dir string) (*Cluster, error) {
	dir = filepath.Clean(dir)
	for _, sub := range []string{"meta/brokers", "meta/topics", "meta/groups", "brokers"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
	}
	c := &Cluster{dir: dir}
	if _, err := os.Stat(c.clusterPath()); err == nil {
		// Written once, whole (writeJSON renames it into place): a
		// cluster that exists is opened without meta/lock, so mk cluster
		// start never waits on (or holds up) the brokers' metadata writes.
		return Open(dir)
	}
	err := c.withMetaLock(func() error {
		_, err := os.Stat(c.clusterPath())
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return err
		}
		f := clusterFile{
			ClusterID:     newID(),
			FormatVersion: FormatVersion,
			Created:       time.Now().UTC().Format(time.RFC3339),
			Config:        clusterConfigDefaults,
		}
		if err := writeJSON(c.clusterPath(), f); err != nil {
			return err
		}
		// The directories above are new entries of dir and meta/: make
		// them as durable as the file that says the cluster exists.
		if err := logdir.SyncDir(filepath.Join(dir, "meta")); err != nil {
			return err
		}
		return logdir.SyncDir(dir)
	})
	if err != nil {
		return nil, err
	}
	return Open(dir)
}

// Open opens the cluster in dir. It fails with ErrNoCluster if dir holds no
// cluster.json, with ErrCorruptMetadata if that file does not parse, and
// with ErrFormatVersion if a newer mk wrote it.
func Open(dir string) (*Cluster, error) {
	dir = filepath.Clean(dir)
	c := &Cluster{dir: dir}
	var f clusterFile
	if err := readJSON(c.clusterPath(), &f); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, newError(ErrNoCluster, "no mk cluster in %s; start one with mk cluster start", dir)
		}
		return nil, err
	}
	if f.FormatVersion > FormatVersion {
		return nil, newError(ErrFormatVersion, "cluster %s has format version %d but this mk reads version %d; upgrade mk", dir, f.FormatVersion, FormatVersion)
	}
	if f.ClusterID == "" || f.FormatVersion < 1 {
		return nil, corruptError(c.clusterPath(), errors.New("missing cluster_id or format_version"))
	}
	created, err := time.Parse(time.RFC3339, f.Created)
	if err != nil {
		return nil, corruptError(c.clusterPath(), fmt.Errorf("created: %v", err))
	}
	cfg, err := parseClusterConfig(f.Config)
	if err != nil {
		return nil, corruptError(c.clusterPath(), err)
	}
	c.id, c.created, c.config = f.ClusterID, created, cfg
	return c, nil
}

// parseClusterConfig reads cluster.json's config, with defaults for keys
// it lacks. Unknown keys are kept for newer builds and ignored.
func parseClusterConfig(m map[string]string) (ClusterConfig, error) {
	get := func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return clusterConfigDefaults[k]
	}
	var cfg ClusterConfig
	var err error
	if cfg.AutoCreateTopics, err = strconv.ParseBool(get(ClusterAutoCreateTopics)); err != nil {
		return cfg, fmt.Errorf("%s: %v", ClusterAutoCreateTopics, err)
	}
	if cfg.NumPartitions, err = strconv.Atoi(get(ClusterNumPartitions)); err != nil || cfg.NumPartitions < 1 {
		return cfg, fmt.Errorf("%s must be an integer of at least 1, not %q", ClusterNumPartitions, get(ClusterNumPartitions))
	}
	if cfg.DefaultReplicationFactor, err = strconv.Atoi(get(ClusterDefaultReplicationFactor)); err != nil || cfg.DefaultReplicationFactor < 1 {
		return cfg, fmt.Errorf("%s must be an integer of at least 1, not %q", ClusterDefaultReplicationFactor, get(ClusterDefaultReplicationFactor))
	}
	if cfg.AutoLeaderRebalance, err = strconv.ParseBool(get(ClusterAutoLeaderRebalance)); err != nil {
		return cfg, fmt.Errorf("%s: %v", ClusterAutoLeaderRebalance, err)
	}
	return cfg, nil
}

// Dir returns the cluster directory.
func (c *Cluster) Dir() string { return c.dir }

// ID returns the cluster id, 22 characters of URL-safe base64 like Kafka's.
func (c *Cluster) ID() string { return c.id }

// Created returns when the cluster directory was initialized.
func (c *Cluster) Created() time.Time { return c.created }

// ClusterConfig returns the cluster-wide configuration read at Open.
func (c *Cluster) ClusterConfig() ClusterConfig { return c.config }

// BrokerDataDir returns broker id's data directory, <dir>/brokers/<id>.
func (c *Cluster) BrokerDataDir(id int) string {
	return filepath.Join(c.dir, "brokers", strconv.Itoa(id))
}

// SocketPath is where broker id serves the Kafka protocol on a Unix
// socket (design decision 9).
func (c *Cluster) SocketPath(id int) string {
	return filepath.Join(c.BrokerDataDir(id), "kafka.sock")
}

// PartitionDir returns the directory of one partition replica,
// <dir>/brokers/<id>/<topic>-<partition>, Kafka's log directory naming.
func (c *Cluster) PartitionDir(brokerID int, topic string, partition int) string {
	return filepath.Join(c.BrokerDataDir(brokerID), topic+"-"+strconv.Itoa(partition))
}

// Paths of the metadata files; see the layout in doc.go.

func (c *Cluster) clusterPath() string  { return filepath.Join(c.dir, "cluster.json") }
func (c *Cluster) metaDir() string      { return filepath.Join(c.dir, "meta") }
func (c *Cluster) metaLockPath() string { return filepath.Join(c.dir, "meta", "lock") }
func (c *Cluster) brokersDir() string   { return filepath.Join(c.dir, "meta", "brokers") }
func (c *Cluster) topicsDir() string    { return filepath.Join(c.dir, "meta", "topics") }

// GroupsDir returns meta/groups, the directory reserved for consumer groups.
func (c *Cluster) GroupsDir() string { return filepath.Join(c.dir, "meta", "groups") }

// BrokersMetaDir returns meta/brokers, where registrations appear and change:
// watch it to learn of brokers starting.
func (c *Cluster) BrokersMetaDir() string { return c.brokersDir() }

// TopicsMetaDir returns meta/topics, where topic files are replaced: watch it
// to learn of any topic change.
func (c *Cluster) TopicsMetaDir() string { return c.topicsDir() }

func (c *Cluster) brokerJSONPath(id int) string {
	return filepath.Join(c.brokersDir(), strconv.Itoa(id)+".json")
}
func (c *Cluster) brokerLockPath(id int) string {
	return filepath.Join(c.brokersDir(), strconv.Itoa(id)+".lock")
}
func (c *Cluster) heartbeatPath(id int) string {
	return filepath.Join(c.BrokerDataDir(id), "heartbeat")
}
func (c *Cluster) controllerLockPath() string {
	return filepath.Join(c.dir, "meta", "controller.lock")
}
func (c *Cluster) controllerJSONPath() string {
	return filepath.Join(c.dir, "meta", "controller.json")
}
func (c *Cluster) topicPath(name string) string {
	return filepath.Join(c.topicsDir(), name+".json")
}

// TopicPath returns the file of topic name (which may not exist). Every
// write replaces it with a new file, so a client that stats it learns
// whether the topic changed without reading it.
func (c *Cluster) TopicPath(name string) string { return c.topicPath(name) }

// readJSON reads a metadata file into v. A missing file is an error that
// matches os.ErrNotExist; one that does not parse is ErrCorruptMetadata.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return corruptError(path, err)
	}
	return nil
}

// writeJSON replaces a metadata file atomically (see logdir.WriteFileAtomic).
// Indented so that people can read the files with cat.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return logdir.WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// writeJSONVolatile replaces path atomically (temp file, rename) without
// the fsyncs: for files that describe live state only, which a crash of the
// machine voids anyway (who holds an ownership lock: the locks die with
// the machine). A group member takes many partitions at once; the fsyncs
// were most of its start-up time.
func writeJSONVolatile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// newID returns 16 random bytes as 22 characters of unpadded URL-safe
// base64, the form of Kafka's cluster and topic ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
