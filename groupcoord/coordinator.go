package groupcoord

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"mk/coord"
)

// Defaults of the broker's group settings, Kafka's.
const (
	// DefaultInitialRebalanceDelay is group.initial.rebalance.delay.ms: a
	// group that gets its first members waits this long for more before
	// its first generation, and again (up to the rebalance timeout) while
	// more keep coming.
	DefaultInitialRebalanceDelay = 3 * time.Second
	// DefaultMinSessionTimeout and DefaultMaxSessionTimeout bound the
	// session timeout a member may ask for (group.min.session.timeout.ms,
	// group.max.session.timeout.ms).
	DefaultMinSessionTimeout = 6 * time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
	// NewMemberJoinTimeout bounds the wait of a member's first JoinGroup:
	// a new member cannot heartbeat, and a client that gave up on its
	// request would otherwise stay a member of the rebalance for ever.
	NewMemberJoinTimeout = 5 * time.Minute
	// MaxOffsetMetadata is offset.metadata.max.bytes: a longer metadata
	// string is refused with OFFSET_METADATA_TOO_LARGE.
	MaxOffsetMetadata = 4096
	// DefaultScanInterval is how often a coordinator looks for groups it
	// should take over (their coordinator died) or hand over (another
	// broker should run them now).
	DefaultScanInterval = time.Second
)

// Config configures a Coordinator.
type Config struct {
	Cluster  *coord.Cluster
	BrokerID int

	InitialRebalanceDelay time.Duration
	MinSessionTimeout     time.Duration
	MaxSessionTimeout     time.Duration
	ScanInterval          time.Duration
	// Logf reports takeovers, generations and failed members; nil
	// discards.
	Logf func(format string, args ...any)

	clock clock // tests
}

// Coordinator is the group coordinator of one broker: it runs the groups
// whose coordinator this broker is, in memory, writing what must outlive
// it to the groups' files.
type Coordinator struct {
	cfg   Config
	c     *coord.Cluster
	me    int
	clock clock
	logf  func(format string, args ...any)

	mu     sync.Mutex
	groups map[string]*group
	closed bool

	// liveBrokers is swapped in tests.
	liveBrokers func() ([]int, error)
}

// New returns the coordinator of broker cfg.BrokerID. It answers at once;
// Run takes over and hands over groups as brokers come and go.
func New(cfg Config) *Coordinator {
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if cfg.ScanInterval <= 0 {
		cfg.ScanInterval = DefaultScanInterval
	}
	if cfg.clock == nil {
		cfg.clock = realClock{}
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	co := &Coordinator{cfg: cfg, c: cfg.Cluster, me: cfg.BrokerID, clock: cfg.clock, logf: logf, groups: map[string]*group{}}
	co.liveBrokers = co.c.LiveBrokers
	return co
}

// Run takes over the groups this broker should run whose members are
// listed in their files (their coordinator died, or this broker came back
// and runs them again), so that members which never come back are removed
// after their session timeout, and gives up the groups another broker
// should run now. It returns when ctx ends, after Close.
func (co *Coordinator) Run(ctx context.Context) {
	t := time.NewTicker(co.cfg.ScanInterval)
	defer t.Stop()
	for {
		co.scan()
		select {
		case <-ctx.Done():
			co.Close()
			return
		case <-t.C:
		}
	}
}

// Close gives up every group: parked requests are answered with
// NOT_COORDINATOR (the clients find the group's next coordinator), timers
// stop. Nothing is written: the files already hold what a successor needs.
func (co *Coordinator) Close() {
	co.mu.Lock()
	co.closed = true
	gs := make([]*group, 0, len(co.groups))
	for _, g := range co.groups {
		gs = append(gs, g)
	}
	co.mu.Unlock()
	for _, g := range gs {
		g.mu.Lock()
		if g.loaded {
			g.unload(kerr.NotCoordinator)
		}
		g.mu.Unlock()
	}
}

// CoordinatorFor returns the broker that runs group: of the live brokers,
// the one that rendezvous hashing ranks first for the group's id. Every
// broker computes the same answer from the same set of live brokers; when
// a broker dies only its groups move, and when one comes back only the
// groups that rank it first move back.
func (co *Coordinator) CoordinatorFor(group string) (int, bool) {
	live, err := co.liveBrokers()
	if err != nil || len(live) == 0 {
		return 0, false
	}
	return chooseCoordinator(group, live), true
}

func chooseCoordinator(group string, live []int) int {
	best, bestWeight := live[0], uint64(0)
	for i, b := range live {
		if w := rendezvousWeight(group, b); i == 0 || w > bestWeight || w == bestWeight && b < best {
			best, bestWeight = b, w
		}
	}
	return best
}

// rendezvousWeight is FNV-1a of the group id and the broker id, finished
// with splitmix64's mixer (FNV alone spreads similar inputs poorly).
func rendezvousWeight(group string, broker int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(group))
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], uint64(broker))
	h.Write(b[:])
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// validateGroup is Kafka's check of a group request before the group is
// looked at: INVALID_GROUP_ID, then COORDINATOR_NOT_AVAILABLE when this
// coordinator is closed, then NOT_COORDINATOR. mk names each group's
// directory after its id, so ids that cannot name one (more than 249
// bytes, or characters other than letters, digits, '.', '_' and '-') are
// INVALID_GROUP_ID too.
func (co *Coordinator) validateGroup(name string) *kerr.Error {
	if name == "" || coord.ValidateGroupName(name) != nil {
		return kerr.InvalidGroupID
	}
	co.mu.Lock()
	closed := co.closed
	co.mu.Unlock()
	if closed {
		return kerr.CoordinatorNotAvailable
	}
	if id, ok := co.CoordinatorFor(name); !ok || id != co.me {
		return kerr.NotCoordinator
	}
	return nil
}

// lookup returns group name loaded and locked (the caller unlocks g.mu),
// or nil when it does not exist and create is false.
func (co *Coordinator) lookup(name string, create bool) (*group, *kerr.Error) {
	co.mu.Lock()
	if co.closed {
		co.mu.Unlock()
		return nil, kerr.CoordinatorNotAvailable
	}
	g := co.groups[name]
	if g == nil {
		if !create && !co.c.GroupExists(name) {
			co.mu.Unlock()
			return nil, nil
		}
		g = &group{co: co, name: name}
		g.reset()
		co.groups[name] = g
	}
	co.mu.Unlock()
	g.mu.Lock()
	if err := g.refresh(create); err != nil {
		g.mu.Unlock()
		return nil, err
	}
	if !g.loaded {
		g.mu.Unlock()
		return nil, nil
	}
	return g, nil
}

// refresh makes g hold the group as its file says, when it may not: a
// group this coordinator does not hold yet, or an empty one (which mk's
// commands may delete, reset or join with mk's own consumers). A group
// with members is held in memory and its file only written, unless the
// file is not the one this coordinator wrote last: another coordinator
// took the group over (this broker was stopped, or the brokers' views of
// which of them live disagreed), and the group is read again.
func (g *group) refresh(create bool) *kerr.Error {
	co := g.co
	if g.loaded && g.state != Empty {
		if now, err := co.c.GroupStamp(g.name); err == nil && now.Same(g.stamp) {
			return nil
		}
		co.logf("group %s: written by another coordinator: reading it again", g.name)
		g.unload(kerr.NotCoordinator)
	}
	fg, err := co.c.Group(g.name)
	if errors.Is(err, coord.ErrUnknownGroup) {
		if g.loaded && g.fence.Epoch == 0 {
			return nil // made in memory (pending members), not written yet
		}
		if g.loaded {
			g.unload(kerr.UnknownMemberID) // deleted under us
		}
		if create {
			g.loaded = true
			g.stateChanged = co.clock.Now()
		}
		return nil
	}
	if err != nil {
		co.logf("group %s: %v", g.name, err)
		return kerr.CoordinatorNotAvailable
	}
	if g.loaded && fg.Fence() == g.fence && !fg.HasKafkaMembers() {
		// Still empty and ours to run: an mk consumer may have moved the
		// generation on meanwhile.
		g.generation = max(g.generation, int32(fg.Generation))
		return nil
	}
	if g.loaded {
		g.unload(kerr.UnknownMemberID)
	}
	if !fg.HasKafkaMembers() {
		g.loaded = true
		g.fence = fg.Fence()
		g.generation = int32(fg.Generation)
		if fg.Kafka != nil {
			g.protocolType = fg.Kafka.ProtocolType
		}
		g.stateChanged = co.clock.Now()
		return nil
	}
	return g.takeOver(fg)
}

// takeOver loads a group with members from its file and writes this
// coordinator into it at the next epoch, which fences the one before. A
// stable group goes on as it was: its members' heartbeats and commits are
// accepted at once, and a member that never comes back is removed after
// its session timeout. A group caught in a rebalance starts the rebalance
// again: its members are told REBALANCE_IN_PROGRESS and join anew.
func (g *group) takeOver(fg *coord.Group) *kerr.Error {
	co := g.co
	written, stamp, err := co.c.UpdateKafkaGroup(g.name, co.me, fg.Fence(), coord.KafkaUpdate{TakeOver: true}, func(w *coord.Group) error {
		if w.Kafka.State != coord.KafkaStable {
			w.Kafka.State = coord.KafkaPreparingRebalance
			w.Kafka.StateChanged = co.clock.Now().UTC().Format(time.RFC3339Nano)
		}
		return nil
	})
	if err != nil {
		co.logf("group %s: cannot take over: %v", g.name, err)
		return kerr.CoordinatorNotAvailable
	}
	g.loadFrom(written, stamp)
	co.logf("group %s: taken over from broker %d (now epoch %d): %s, generation %d, %d member(s)",
		g.name, fg.Fence().Coordinator, g.fence.Epoch, g.state, g.generation, len(g.members))
	return nil
}

// unload gives the group up: parked requests are answered with err,
// timers stop, and the object forgets the group.
func (g *group) unload(err *kerr.Error) {
	for _, m := range g.members {
		m.answerJoin(joinError(m.id, err))
		m.answerSync(syncError(err))
		if m.expiry != nil {
			m.expiry.Stop()
		}
	}
	for _, t := range g.pending {
		if t != nil {
			t.Stop()
		}
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	g.reset()
}

// scan takes over and hands over groups (see Run).
func (co *Coordinator) scan() {
	live, err := co.liveBrokers()
	if err != nil || len(live) == 0 {
		return
	}
	co.mu.Lock()
	if co.closed {
		co.mu.Unlock()
		return
	}
	held := make([]*group, 0, len(co.groups))
	for _, g := range co.groups {
		held = append(held, g)
	}
	co.mu.Unlock()
	for _, g := range held {
		if chooseCoordinator(g.name, live) == co.me {
			continue
		}
		g.mu.Lock()
		if g.loaded {
			if g.state != Empty || len(g.pending) > 0 {
				co.logf("group %s: broker %d runs it now", g.name, chooseCoordinator(g.name, live))
			}
			g.unload(kerr.NotCoordinator)
		}
		g.mu.Unlock()
	}
	names, err := co.c.GroupNames()
	if err != nil {
		return
	}
	for _, name := range names {
		if chooseCoordinator(name, live) != co.me {
			continue
		}
		co.mu.Lock()
		g := co.groups[name]
		co.mu.Unlock()
		if g != nil {
			g.mu.Lock()
			mine := g.loaded && g.state != Empty
			g.mu.Unlock()
			if mine {
				continue
			}
		}
		fg, err := co.c.Group(name)
		if err != nil || !fg.HasKafkaMembers() {
			continue
		}
		if g, _ := co.lookup(name, false); g != nil {
			g.mu.Unlock()
		}
	}
}

func newMemberID(clientID, instanceID string) string {
	prefix := clientID
	if instanceID != "" {
		prefix = instanceID
	}
	return prefix + "-" + newUUID()
}

// newUUID is a random (version 4) UUID in its usual text form, as Kafka's
// member ids end with one.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[x>>4], hex[x&0xf])
	}
	return string(out)
}
