package coord

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// A watched file that exists is watched alone, not with its directory:
// writes to the directory's other files (a replica's segments) are not
// delivered to the process at all, and a write in place is one wake. Its
// directory is watched only while the file does not exist.
func TestWatchFileWithoutItsDirectory(t *testing.T) {
	h := sharedHub()
	if h.fs == nil {
		t.Skip("no inotify")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	refs := func(p string) int { h.mu.Lock(); defer h.mu.Unlock(); return h.refs[p] }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := Watch(ctx, []string{path}, 0) // no backstop: only events count
	if refs(dir) != 1 || refs(path) != 0 {
		t.Fatalf("before the file exists: %d watches of the directory, %d of the file; want 1, 0", refs(dir), refs(path))
	}
	if err := os.WriteFile(path, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, ch, "the file's creation")
	waitUntil(t, "the file watched instead of its directory", func() bool { return refs(dir) == 0 && refs(path) == 1 })
	quiet(ch, 50*time.Millisecond)

	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	extra := 0
	for i := 0; i < 20; i++ {
		if _, err := f.WriteAt([]byte{byte(i)}, 0); err != nil {
			t.Fatal(err)
		}
		awaitWake(t, ch, "a write in place")
		extra += quiet(ch, 20*time.Millisecond)
	}
	if extra != 0 {
		t.Fatalf("20 writes in place woke the watch %d times more", extra)
	}
	os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), []byte("x"), 0o644)
	if n := quiet(ch, 100*time.Millisecond); n != 0 {
		t.Fatalf("%d wakes for another file", n)
	}

	// Removed: a wake, and the directory is watched for it to come back.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, ch, "the file's removal")
	waitUntil(t, "the directory watched again", func() bool { return refs(dir) == 1 })
	if err := os.WriteFile(path, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, ch, "the file created again")
	waitUntil(t, "the new file watched", func() bool { return refs(dir) == 0 && refs(path) == 1 })
	quiet(ch, 50*time.Millisecond)
	g, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.WriteAt([]byte("v3"), 0); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, ch, "a write in place to the new file")
}

// Two files of one directory, one there and one not yet: the directory
// stays watched, whatever their order, until both exist.
func TestWatchFilesOfOneDirectory(t *testing.T) {
	h := sharedHub()
	if h.fs == nil {
		t.Skip("no inotify")
	}
	refs := func(p string) int { h.mu.Lock(); defer h.mu.Unlock(); return h.refs[p] }
	for _, order := range []string{"there first", "missing first"} {
		t.Run(order, func(t *testing.T) {
			dir := t.TempDir()
			there, missing := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			if err := os.WriteFile(there, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			targets := []string{there, missing}
			if order == "missing first" {
				targets = []string{missing, there}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := Watch(ctx, targets, 0)
			if refs(dir) != 1 {
				t.Fatalf("the directory of a missing file is watched %d times, want 1", refs(dir))
			}
			if err := os.WriteFile(missing, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			awaitWake(t, ch, "the missing file's creation")
			waitUntil(t, "both files watched, not their directory", func() bool {
				return refs(dir) == 0 && refs(there) == 1 && refs(missing) == 1
			})
		})
	}
}

// A watched file's IN_ATTRIB (fsnotify's Chmod), which it gets when its
// link count changes, sets the watches up again: it was removed or
// replaced.
func TestWatchFileAttribSetsUpAgain(t *testing.T) {
	w := &watcher{dirs: map[string]bool{}, files: map[string]bool{"/d/state": true}}
	for _, tt := range []struct {
		op         fsnotify.Op
		want, redo bool
	}{
		{fsnotify.Write, true, false},
		{fsnotify.Chmod, true, true},
		{fsnotify.Remove, true, true},
		{fsnotify.Rename, true, true},
	} {
		got, redo := w.relevant(fsnotify.Event{Name: "/d/state", Op: tt.op})
		if got != tt.want || redo != tt.redo {
			t.Errorf("relevant(%v /d/state) = %v, %v; want %v, %v", tt.op, got, redo, tt.want, tt.redo)
		}
	}
}

// waitUntil polls cond until it holds, for at most 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
