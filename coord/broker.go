package coord

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Timing of broker liveness. Package variables so that tests can shorten
// them; a broker records its SessionTimeout in its registration, so other
// processes judge it by the timeout it was started with.
var (
	// HeartbeatInterval is how often a live broker touches its heartbeat
	// file (Kafka's broker.heartbeat.interval.ms is 2s; a local file is
	// cheap, so mk beats faster and notices a stopped broker sooner).
	HeartbeatInterval = time.Second
	// SessionTimeout is how old a heartbeat may get before its broker
	// counts as failed although it still holds its lock (a SIGSTOPped
	// process). Kafka's broker.session.timeout.ms default.
	SessionTimeout = 9 * time.Second
	// RegisterRetry is how long RegisterBroker keeps trying a lock that is
	// busy when no live process claims it: liveness probes by other
	// processes hold it for an instant (see lockHeld).
	RegisterRetry = 500 * time.Millisecond
	// probeGrace is how long RegisterBroker keeps trying a busy lock
	// whose registration names a live process before it calls that
	// process a running broker: far longer than a probe holds the lock.
	probeGrace = 200 * time.Millisecond
)

// brokerFile is meta/brokers/<id>.json.
type brokerFile struct {
	ID               int    `json:"id"`
	Epoch            int64  `json:"epoch"` // grows on every registration of this id
	Pid              int    `json:"pid"`
	Host             string `json:"host"`
	Started          string `json:"started"` // RFC 3339 with nanoseconds
	DataDir          string `json:"data_dir"`
	SessionTimeoutMs int64  `json:"session_timeout_ms"`
	// Address is the advertised HOST:PORT of the broker's TCP listener
	// (Kafka's advertised.listeners); empty when it serves only its Unix
	// socket, and until the listener is bound.
	Address string `json:"address,omitempty"`
	// Listen is the HOST:PORT the TCP listener is bound to, its port
	// resolved when it was asked for port 0 (Kafka's listeners). A new
	// registration keeps the previous one's until the broker binds, so
	// that mk cluster start restarts a broker on the same port even if
	// its last start failed half-way.
	Listen string `json:"listen,omitempty"`
	// MaxOpenFiles is the broker's open file limit (RLIMIT_NOFILE), which
	// bounds the replicas it can host (see checkBrokerCapacity).
	MaxOpenFiles int `json:"max_open_files,omitempty"`
}

// BrokerInfo is what the metadata directory knows about one broker.
type BrokerInfo struct {
	ID int
	// Epoch grows on every registration of this id (Kafka's broker epoch),
	// so a restarted broker is told apart from its previous life.
	Epoch          int64
	Pid            int
	Host           string
	Started        time.Time
	DataDir        string
	SessionTimeout time.Duration
	// Address is the advertised HOST:PORT of the broker's TCP listener, or
	// "" when it has none.
	Address string
	// Listen is the HOST:PORT its TCP listener is (or was last) bound to,
	// or "" when it has none.
	Listen string
	// LastHeartbeat is the heartbeat file's mtime; zero if it has none.
	LastHeartbeat time.Time
	// LockHeld: some process holds the broker's lock, which the kernel
	// drops when the process dies.
	LockHeld bool
	// Alive: LockHeld and the heartbeat is younger than SessionTimeout.
	Alive bool
}

// State is "alive", "failed" (holds its lock but stopped heartbeating, as
// a SIGSTOPped process does) or "dead" (nobody holds its lock).
func (b BrokerInfo) State() string {
	switch {
	case b.Alive:
		return "alive"
	case b.LockHeld:
		return "failed"
	default:
		return "dead"
	}
}

// BrokerSession is a registered, live broker: it holds the broker's lock
// and keeps its heartbeat fresh until Close.
type BrokerSession struct {
	c    *Cluster
	id   int
	info BrokerInfo
	lock *fileLock

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// The lease (see Lease): the time of the last heartbeat written, in
	// Unix nanoseconds, and the number of gaps seen between heartbeats.
	lastBeat atomic.Int64
	gaps     atomic.Uint64
}

// sessions holds the lock paths this process has registered, so that a
// second RegisterBroker of the same id in one process fails at once rather
// than after RegisterRetry.
var sessions sync.Map

// RegisterBroker makes this process broker id: it takes the broker's lock
// for the life of the session, starts the heartbeat and writes the
// registration file. If another live process is broker id it fails with
// ErrBrokerRunning ("broker 1 is already running (pid 1234)").
func (c *Cluster) RegisterBroker(id int) (*BrokerSession, error) {
	if id < 0 {
		return nil, fmt.Errorf("invalid broker id %d: it must be 0 or more", id)
	}
	if err := os.MkdirAll(c.BrokerDataDir(id), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.brokersDir(), 0o755); err != nil {
		return nil, err
	}
	lockPath := c.brokerLockPath(id)
	if _, loaded := sessions.LoadOrStore(lockPath, true); loaded {
		return nil, newError(ErrBrokerRunning, "broker %d is already running (pid %d)", id, os.Getpid())
	}
	s, err := c.register(id, lockPath)
	if err != nil {
		sessions.Delete(lockPath)
		return nil, err
	}
	return s, nil
}

func (c *Cluster) register(id int, lockPath string) (*BrokerSession, error) {
	start := time.Now()
	deadline := start.Add(RegisterRetry)
	var lock *fileLock
	for {
		l, err := tryLock(lockPath)
		if err != nil {
			return nil, err
		}
		if l != nil {
			lock = l
			break
		}
		// Busy: a live broker, or only a liveness probe. A live process
		// in the registration other than us means a live broker, once the
		// lock stayed busy for longer than a probe holds it (that process
		// may be the previous broker, exiting after it let its lock go,
		// while a probe holds it); give a probe time to let go otherwise.
		var prev brokerFile
		readJSON(c.brokerJSONPath(id), &prev)
		if (prev.Pid != os.Getpid() && processAlive(prev.Pid) && time.Since(start) >= probeGrace) || time.Now().After(deadline) {
			if prev.Pid > 0 {
				return nil, newError(ErrBrokerRunning, "broker %d is already running (pid %d)", id, prev.Pid)
			}
			return nil, newError(ErrBrokerRunning, "broker %d is already running", id)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The pid in the lock file too: cluster stop finds the broker by it
	// when the registration is damaged. Written through its own descriptor;
	// the lock is on the inode, not on the descriptor that writes.
	if err := os.WriteFile(lockPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		lock.unlock()
		return nil, err
	}
	// Heartbeat before registration, so nobody sees the new registration
	// with a stale heartbeat left by the previous life of this id.
	beat := time.Now()
	if err := touchAt(c.heartbeatPath(id), beat); err != nil {
		lock.unlock()
		return nil, err
	}
	host, _ := os.Hostname()
	now := time.Now()
	var reg brokerFile
	err := c.withMetaLock(func() error {
		var prev brokerFile
		if err := readJSON(c.brokerJSONPath(id), &prev); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, ErrCorruptMetadata) {
			return err
		}
		reg = brokerFile{
			ID:               id,
			Epoch:            prev.Epoch + 1,
			Pid:              os.Getpid(),
			Host:             host,
			Started:          now.UTC().Format(time.RFC3339Nano),
			DataDir:          c.BrokerDataDir(id),
			SessionTimeoutMs: SessionTimeout.Milliseconds(),
			Listen:           prev.Listen,
			MaxOpenFiles:     OpenFileLimit(),
		}
		return writeJSON(c.brokerJSONPath(id), reg)
	})
	if err != nil {
		lock.unlock()
		return nil, err
	}
	s := &BrokerSession{
		c:    c,
		id:   id,
		lock: lock,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	s.info = reg.info()
	s.info.LockHeld, s.info.Alive, s.info.LastHeartbeat = true, true, now
	s.lastBeat.Store(beat.UnixNano())
	// At least four beats a session timeout, so that a broker started with
	// a short one (tests) is not judged failed between two beats.
	go s.heartbeat(max(time.Millisecond, min(HeartbeatInterval, s.info.SessionTimeout/4)))
	return s, nil
}

// heartbeat touches the heartbeat file every interval until Close.
// A failed touch is retried on the next tick; if they keep failing the
// broker is seen as failed, which is the truth. Before it writes a beat
// that ends a gap of LeaseSlack or more since the previous one (the
// process was stopped, or starved), it counts the gap: see Lease.
func (s *BrokerSession) heartbeat(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			now := time.Now()
			if now.Sub(time.Unix(0, s.lastBeat.Load())) >= s.LeaseSlack() {
				s.gaps.Add(1)
			}
			if touchAt(s.c.heartbeatPath(s.id), now) == nil {
				s.lastBeat.Store(now.UnixNano())
			}
		}
	}
}

// Lease is what the broker knows of its own liveness as the other
// processes judge it: the time of its last heartbeat written, and how
// many gaps of LeaseSlack or more it has seen between two heartbeats. The
// controller takes leadership away from a broker whose heartbeat is
// SessionTimeout old, without waiting for its locks (a stopped broker
// holds them), so a broker that may have been judged failed (a gap since
// it last looked, or no heartbeat for LeaseSlack now) must read the
// metadata again before it acknowledges anything as a leader: it may be a
// zombie. The gap count covers a heartbeat written after the gap and
// before that check.
func (s *BrokerSession) Lease() (lastBeat time.Time, gaps uint64) {
	return time.Unix(0, s.lastBeat.Load()), s.gaps.Load()
}

// LeaseSlack is half the broker's session timeout: a heartbeat younger
// than that is far from the controller's judgement.
func (s *BrokerSession) LeaseSlack() time.Duration { return s.info.SessionTimeout / 2 }

// ID returns the broker id.
func (s *BrokerSession) ID() int { return s.id }

// Info returns the registration as written at RegisterBroker.
func (s *BrokerSession) Info() BrokerInfo { return s.info }

// SetListener records the broker's TCP listener in its registration: the
// HOST:PORT it is bound to and the HOST:PORT it is advertised at (both
// empty: it has none).
func (s *BrokerSession) SetListener(listen, advertised string) error {
	err := s.c.withMetaLock(func() error {
		var reg brokerFile
		if err := readJSON(s.c.brokerJSONPath(s.id), &reg); err != nil {
			return err
		}
		if reg.Pid != os.Getpid() || reg.Epoch != s.info.Epoch {
			return fmt.Errorf("broker %d: registration was replaced by another process", s.id)
		}
		reg.Address, reg.Listen = advertised, listen
		return writeJSON(s.c.brokerJSONPath(s.id), reg)
	})
	if err == nil {
		s.info.Address, s.info.Listen = advertised, listen
	}
	return err
}

// Close stops the heartbeat and releases the broker's lock: from then on
// every process sees the broker dead. The registration file stays, so the
// broker is still listed (as dead) by Brokers. Close is idempotent.
func (s *BrokerSession) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		err = s.lock.unlock()
		sessions.Delete(s.c.brokerLockPath(s.id))
	})
	return err
}

// touch sets path's mtime to now, creating the file if needed.
func touch(path string) error { return touchAt(path, time.Now()) }

// touchAt sets path's mtime to now, creating the file if needed.
func touchAt(path string, now time.Time) error {
	err := os.Chtimes(path, now, now)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		f.Close()
		return os.Chtimes(path, now, now)
	}
	return err
}

func (f brokerFile) info() BrokerInfo {
	started, _ := time.Parse(time.RFC3339Nano, f.Started)
	timeout := time.Duration(f.SessionTimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = SessionTimeout
	}
	return BrokerInfo{
		ID:             f.ID,
		Epoch:          f.Epoch,
		Pid:            f.Pid,
		Host:           f.Host,
		Started:        started,
		DataDir:        f.DataDir,
		SessionTimeout: timeout,
		Address:        f.Address,
		Listen:         f.Listen,
	}
}

// Broker returns what is known of broker id. A broker that never
// registered is reported dead, with only its ID set. If the registration
// does not parse, the error (ErrCorruptMetadata) comes with a BrokerInfo
// whose liveness is still judged, by the default SessionTimeout.
func (c *Cluster) Broker(id int) (BrokerInfo, error) {
	var f brokerFile
	regErr := readJSON(c.brokerJSONPath(id), &f)
	if errors.Is(regErr, os.ErrNotExist) {
		regErr = nil
	}
	if regErr != nil {
		f = brokerFile{}
	}
	f.ID = id
	b := f.info()
	var err error
	if b.LockHeld, err = lockHeld(c.brokerLockPath(id)); err != nil {
		return b, err
	}
	if fi, err := os.Stat(c.heartbeatPath(id)); err == nil {
		b.LastHeartbeat = fi.ModTime()
	}
	b.Alive = b.LockHeld && !b.LastHeartbeat.IsZero() && time.Since(b.LastHeartbeat) < b.SessionTimeout
	return b, regErr
}

// Brokers lists every registered broker, live or not, sorted by id.
func (c *Cluster) Brokers() ([]BrokerInfo, error) {
	ids, err := c.registeredIDs()
	if err != nil {
		return nil, err
	}
	out := make([]BrokerInfo, 0, len(ids))
	for _, id := range ids {
		b, err := c.Broker(id)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// registeredIDs lists the ids that have a registration file, sorted.
func (c *Cluster) registeredIDs() ([]int, error) {
	entries, err := os.ReadDir(c.brokersDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if id, err := strconv.Atoi(name); err == nil && id >= 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// LiveBrokers returns the ids of the live brokers, sorted.
func (c *Cluster) LiveBrokers() ([]int, error) {
	bs, err := c.Brokers()
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, b := range bs {
		if b.Alive {
			ids = append(ids, b.ID)
		}
	}
	return ids, nil
}

// BrokerAlive reports whether broker id is alive: its lock is held and its
// heartbeat is fresh. A broker killed by any signal is dead at once; a
// stopped one after its session timeout.
func (c *Cluster) BrokerAlive(id int) bool {
	if held, err := lockHeld(c.brokerLockPath(id)); err != nil || !held {
		return false
	}
	b, _ := c.Broker(id)
	return b.Alive
}

// RequireLiveBroker returns the live broker ids, or ErrNoBroker ("no broker
// is running in DIR; start one with mk cluster start") if there are none.
func (c *Cluster) RequireLiveBroker() ([]int, error) {
	ids, err := c.LiveBrokers()
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, newError(ErrNoBroker, "no broker is running in %s; start one with mk cluster start", c.dir)
	}
	return ids, nil
}
