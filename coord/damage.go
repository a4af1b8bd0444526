package coord

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Reading what can be read. One damaged metadata file (a topic's, a
// group's, a broker's registration, cluster.json) must not hide the rest:
// the listing functions here return every entity whose file can be read
// and, for each file that cannot, its error (ErrCorruptMetadata naming the
// file, or the I/O error). The list and describe commands print the first
// and name the second; cluster stop stops every broker it can find. The
// strict functions (Topics, Brokers, Groups, Open) still fail at the
// first damaged file, for callers that must not act on a partial view.

// OpenReadable opens the cluster in dir like Open, but a cluster.json that
// does not parse is damage, not a failure: the Cluster it returns has no
// id and the default cluster config, for commands that only read the
// other files or stop brokers. A missing cluster (ErrNoCluster) or one of
// a newer format (ErrFormatVersion) is still err.
func OpenReadable(dir string) (c *Cluster, damage, err error) {
	c, err = Open(dir)
	if !errors.Is(err, ErrCorruptMetadata) {
		return c, nil, err
	}
	cfg, _ := parseClusterConfig(nil)
	return &Cluster{dir: filepath.Clean(dir), config: cfg}, err, nil
}

// TopicsReadable returns the topics whose files can be read, sorted by
// name, and an error for each that cannot; err is for listing the
// directory itself. It is ListTopics, the one topic listing, with the
// errors alone.
func (c *Cluster) TopicsReadable() (topics []*Topic, damaged []error, err error) {
	topics, unreadable, err := c.ListTopics()
	for _, u := range unreadable {
		damaged = append(damaged, u.Err)
	}
	return topics, damaged, err
}

// readableTopics is TopicsReadable without the errors, for checks that
// count what exists (an unreadable file is reported where it is read for
// its own sake).
func (c *Cluster) readableTopics() []*Topic {
	ts, _, _ := c.TopicsReadable()
	return ts
}

// BrokersReadable lists every registered broker like Brokers, but a
// registration that does not parse is damage: the broker is still listed,
// with its liveness (its lock and heartbeat) and, while it holds its lock,
// its pid from the lock file, so that it can be stopped.
func (c *Cluster) BrokersReadable() (brokers []BrokerInfo, damaged []error, err error) {
	ids, err := c.registeredIDs()
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		b, err := c.Broker(id)
		if err != nil {
			damaged = append(damaged, err)
			if b.LockHeld && b.Pid <= 0 {
				b.Pid = c.lockFilePid(id)
			}
		}
		brokers = append(brokers, b)
	}
	return brokers, damaged, nil
}

// lockFilePid is the pid of the process holding broker id's lock: the pid
// the broker wrote in its lock file when it took it, else (a broker of an
// older mk) the holder of the flock as /proc/locks shows it; 0 if neither
// says.
func (c *Cluster) lockFilePid(id int) int {
	path := c.brokerLockPath(id)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
		return pid
	}
	return flockHolder(path)
}

// flockHolder is the pid holding an exclusive flock on path according to
// /proc/locks (Linux), or 0.
func flockHolder(path string) int {
	locks, err := readFlocks()
	if err != nil {
		return 0
	}
	pid, _ := flockHolderOf(locks, path)
	return pid
}

// GroupsReadable lists the groups whose group.json can be read, sorted by
// name, and an error for each that cannot. Directories whose names are not
// group names are ignored.
func (c *Cluster) GroupsReadable() (groups []*Group, damaged []error, err error) {
	ents, err := os.ReadDir(c.GroupsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	for _, e := range ents {
		if !e.IsDir() || ValidateGroupName(e.Name()) != nil {
			continue
		}
		g, err := c.Group(e.Name())
		switch {
		case errors.Is(err, ErrUnknownGroup):
		case err != nil:
			damaged = append(damaged, err)
		default:
			groups = append(groups, g)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	return groups, damaged, nil
}

// liveMemberLocks lists the member lock files of group that a live
// process holds: the group's liveness without reading group.json, for a
// group whose group.json is damaged.
func (c *Cluster) liveMemberLocks(group string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(c.groupDir(group), "members"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var live []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok {
			continue
		}
		held, err := lockHeld(filepath.Join(c.groupDir(group), "members", e.Name()))
		if err != nil {
			return nil, err
		}
		if held {
			live = append(live, name)
		}
	}
	return live, nil
}
