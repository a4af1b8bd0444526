package coord

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestProducerIDsAreNeverGivenTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	if _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	// Three brokers (each its own Cluster, as separate processes have),
	// each giving ids from its blocks concurrently, then restarted.
	seen := map[int64]int{}
	var mu sync.Mutex
	give := func(broker, n int) {
		c, err := Open(dir)
		if err != nil {
			t.Error(err)
			return
		}
		p := NewProducerIDs(c, broker)
		for range n {
			id, err := p.Next()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if prev, dup := seen[id]; dup {
				t.Errorf("producer id %d given to broker %d and broker %d", id, prev, broker)
			}
			seen[id] = broker
			mu.Unlock()
		}
	}
	for round := 0; round < 2; round++ { // the second round is the restart
		var wg sync.WaitGroup
		for b := 1; b <= 3; b++ {
			wg.Go(func() { give(b, 2500) })
		}
		wg.Wait()
	}
	if len(seen) != 6*2500 {
		t.Fatalf("%d distinct ids, want %d", len(seen), 6*2500)
	}
	// 3 blocks per broker per round (2500 ids): 18 blocks claimed.
	c, _ := Open(dir)
	var f producerIDsFile
	if err := readJSON(c.producerIDsPath(), &f); err != nil {
		t.Fatal(err)
	}
	if f.NextProducerID != 18*ProducerIDBlockSize || f.BlockSize != ProducerIDBlockSize {
		t.Fatalf("producer-ids.json %+v: want next_producer_id %d", f, 18*ProducerIDBlockSize)
	}
}

func TestDamagedProducerIDsFileIsNotRewritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClaimProducerIDBlock(1); err != nil {
		t.Fatal(err)
	}
	path := c.producerIDsPath()
	for _, bad := range []string{"{not json", `{"next_producer_id": -5}`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := NewProducerIDs(c, 1).Next(); !errors.Is(err, ErrCorruptMetadata) {
			t.Fatalf("claim from %q: %v, want ErrCorruptMetadata", bad, err)
		}
		if got, _ := os.ReadFile(path); string(got) != bad {
			t.Fatalf("the damaged file was rewritten: %q", got)
		}
	}
}
