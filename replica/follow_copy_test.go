package replica

import (
	"context"
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

// A follower reads its leader's batches without checking their CRCs
// (ReadForCopy) and AppendVerbatim checks them before writing: a batch
// damaged in the leader's log is never stored. The follower says what is
// wrong and copies nothing from there on.
func TestFollowerNeverCopiesADamagedBatch(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaderDir, followerDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
	big := logdir.Config{} // one segment
	leader, _, err := logdir.Recover(leaderDir, big)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	if err := leader.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, 0, "a", 3) // offsets 0..5, two records a batch
	// Damage the last byte of the second batch (offsets 2..3).
	rd, err := logdir.OpenReader(leaderDir)
	if err != nil {
		t.Fatal(err)
	}
	whole, _, err := rd.Read(nil, 0, 6, 1<<20)
	rd.Close()
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := logdir.ParseBatchHeader(whole)
	h2, _ := logdir.ParseBatchHeader(whole[h1.Size():])
	f, err := os.OpenFile(filepath.Join(leaderDir, "00000000000000000000.log"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := int64(h1.Size() + h2.Size() - 1)
	b := []byte{0}
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{b[0] ^ 0xff}, at); err != nil {
		t.Fatal(err)
	}
	f.Close()

	follower, _, err := logdir.Recover(followerDir, big)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	if err := follower.BecomeFollower(0); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, fmt.Sprintf(format, args...))
	}
	fm := NewManager(c, 2, Options{Backstop: 20 * time.Millisecond, Logf: logf})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		fm.follow(ctx, &replica{topic: "t", partition: 0, dir: followerDir, log: follower}, coord.Partition{Replicas: []int{1, 2}, Leader: 1, ISR: []int{1, 2}})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, "the follower to report the damaged batch", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range logged {
			if strings.Contains(l, "following broker 1") && strings.Contains(l, "corrupt record batch") {
				return true
			}
		}
		return false
	})
	st := state(t, follower)
	if st.LogEndOffset > 2 {
		t.Fatalf("the follower copied up to %d, past the damaged batch at 2", st.LogEndOffset)
	}
	// Whatever it holds passes its CRC.
	segs := segmentsOf(t, followerDir)
	for rest := segs; len(rest) > 0; {
		batch, next, err := logdir.NextBatch(rest)
		if err != nil || batch == nil {
			t.Fatalf("the follower's log: %v (%d bytes left)", err, len(rest))
		}
		if err := logdir.VerifyBatch(batch); err != nil {
			t.Fatalf("the follower stored a batch that fails its CRC: %v", err)
		}
		rest = next
	}
	if int64(len(segs)) != st.ActiveSize {
		t.Fatalf("segments hold %d bytes, the state says %d", len(segs), st.ActiveSize)
	}
}

// A follower that has every record writes its high watermark on its own
// only when the leader has committed all it has, or when the leader's log
// start moved past its own: that follows below, bounded by the follower's
// high watermark, and DeleteRecords waits for it. Here another ISR member
// lags, so the leader has not committed all it has, and DeleteRecords
// must still be followed at once.
func TestFollowerFollowsTheLogStartWhileAnotherLags(t *testing.T) {
	c, err := coord.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaderDir, followerDir := c.PartitionDir(1, "t", 0), c.PartitionDir(2, "t", 0)
	leader := recoverLog(t, leaderDir)
	if err := leader.BecomeLeader(0, false); err != nil {
		t.Fatal(err)
	}
	follower := recoverLog(t, followerDir)
	if err := follower.BecomeFollower(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, 0, "a", 4)                                   // offsets 0..7
	fm := NewManager(c, 2, Options{Backstop: time.Hour, Logf: t.Logf}) // events only
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		fm.follow(ctx, &replica{topic: "t", partition: 0, dir: followerDir, log: follower}, coord.Partition{Replicas: []int{1, 2, 3}, Leader: 1, ISR: []int{1, 2, 3}})
		close(done)
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, "the follower to copy the leader's records", func() bool { return state(t, follower).LogEndOffset == 8 })
	// Broker 3 has up to 6: the leader commits that much, not all 8.
	if _, err := leader.SetLeaderHighWatermark(0, 6); err != nil {
		t.Fatal(err)
	}
	// DeleteRecords before 4.
	if _, err := leader.AdvanceLogStart(4, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower to follow the log start to 4", func() bool { return state(t, follower).LogStartOffset == 4 })
	if hw := state(t, follower).HighWatermark; hw != 6 {
		t.Fatalf("the follower's high watermark is %d, the leader's 6", hw)
	}
}
