package coord

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"mk/logdir"
)

// awaitWake waits up to 10s for a wake.
func awaitWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("watch closed while waiting for %s", what)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake for %s", what)
	}
}

// quiet drains wakes until none comes for d, and returns how many came.
func quiet(ch <-chan struct{}, d time.Duration) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		case <-time.After(d):
			return n
		}
	}
}

func TestWatchCoalescesABurst(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := Watch(ctx, []string{dir}, 0)
	const files = 300
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	awaitWake(t, ch, "a burst of writes")
	// Each write makes two events (create, write). Those that came while
	// nobody read are one wake; those still in flight wake the draining
	// reader one by one, hence the loose bound (exact: next test).
	if n := 1 + quiet(ch, 300*time.Millisecond); n > files/2 {
		t.Errorf("%d events made %d wakes; want them coalesced", 2*files, n)
	}
	cancel()
	if _, ok := <-ch; ok {
		if _, ok := <-ch; ok {
			t.Error("channel not closed after ctx ended")
		}
	}
}

// A change the watch cannot see (a file in a subdirectory: inotify is not
// recursive) stands for a lost event: the backstop still wakes.
func TestWatchBackstopCatchesALostEvent(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Without a backstop the change is never seen...
	blind := Watch(ctx, []string{dir}, 0)
	os.WriteFile(filepath.Join(sub, "a"), []byte("x"), 0o644)
	if n := quiet(blind, 300*time.Millisecond); n != 0 {
		t.Fatalf("the watch saw a change in a subdirectory (%d wakes); the test needs an invisible change", n)
	}
	// ...with one, it is seen within the backstop.
	ch := Watch(ctx, []string{dir}, 100*time.Millisecond)
	os.WriteFile(filepath.Join(sub, "b"), []byte("x"), 0o644)
	awaitWake(t, ch, "the backstop")
}

// Events that arrive while the reader is busy leave exactly one wake.
func TestWatchCoalescesExactly(t *testing.T) {
	w := &watcher{out: make(chan struct{}, 1), dirs: map[string]bool{"/m": true}, files: map[string]bool{}}
	events := make(chan fsnotify.Event) // unbuffered: a send returns once run has it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.run(ctx, events, nil, nil)
	for i := range 100 {
		events <- fsnotify.Event{Name: "/m/" + strconv.Itoa(i), Op: fsnotify.Create}
	}
	events <- fsnotify.Event{Name: "/m/x", Op: fsnotify.Write} // the 100 before it are handled
	if n := len(w.out); n != 1 {
		t.Fatalf("%d wakes pending after 101 events, want 1", n)
	}
	<-w.out
	if n := len(w.out); n != 0 {
		t.Fatalf("%d wakes pending after reading one", n)
	}
}

func TestWatchWakesOnOverflowAndErrors(t *testing.T) {
	for _, err := range []error{fsnotify.ErrEventOverflow, os.ErrPermission} {
		w := &watcher{out: make(chan struct{}, 1), dirs: map[string]bool{}, files: map[string]bool{}}
		events := make(chan fsnotify.Event)
		errs := make(chan error)
		ctx, cancel := context.WithCancel(context.Background())
		go w.run(ctx, events, errs, nil)
		errs <- err
		awaitWake(t, w.out, err.Error())
		cancel()
	}
}

func TestWatchIgnoresUnrelatedEvents(t *testing.T) {
	w := &watcher{out: make(chan struct{}, 1), dirs: map[string]bool{"/m/topics": true}, files: map[string]bool{"/d/state": true}}
	tests := []struct {
		name string
		want bool
	}{
		{"/m/topics/a.json", true},
		{"/m/topics", true},
		{"/d/state", true},
		{"/d/other", false},
		{"/m/topics/sub/x", false},
	}
	for _, tt := range tests {
		if got := w.relevant(fsnotify.Event{Name: tt.name, Op: fsnotify.Write}); got != tt.want {
			t.Errorf("relevant(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A single file watched for writes in place, also after it is replaced
// (a new inode) and when it does not exist yet.
func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := Watch(ctx, []string{path}, 0) // no backstop: only events count

	// Writes to another file in the directory do not wake.
	os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o644)
	if n := quiet(ch, 200*time.Millisecond); n != 0 {
		t.Fatalf("%d wakes for another file", n)
	}
	if err := os.WriteFile(path, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, ch, "the file's creation")
	quiet(ch, 100*time.Millisecond)

	writeInPlace := func(data string) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte(data), 0); err != nil {
			t.Fatal(err)
		}
	}
	writeInPlace("v2")
	awaitWake(t, ch, "a write in place")
	quiet(ch, 100*time.Millisecond)

	if err := logdir.WriteFileAtomic(path, []byte("v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, ch, "the file's replacement")
	quiet(ch, 100*time.Millisecond)

	writeInPlace("v4") // to the new inode
	awaitWake(t, ch, "a write in place to the replaced file")
}
