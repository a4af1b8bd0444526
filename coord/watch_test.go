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
	h := newHub(nil)
	events := make(chan fsnotify.Event) // unbuffered: a send returns once dispatch has it
	go h.dispatch(events, nil)
	defer close(events)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	ch := h.watch(ctx, []string{dir}, 0)
	for i := range 100 {
		events <- fsnotify.Event{Name: filepath.Join(dir, strconv.Itoa(i)), Op: fsnotify.Create}
	}
	events <- fsnotify.Event{Name: filepath.Join(dir, "x"), Op: fsnotify.Write} // the 100 before it are handled
	if n := len(ch); n != 1 {
		t.Fatalf("%d wakes pending after 101 events, want 1", n)
	}
	<-ch
	if n := len(ch); n != 0 {
		t.Fatalf("%d wakes pending after reading one", n)
	}
}

func TestWatchWakesOnOverflowAndErrors(t *testing.T) {
	for _, err := range []error{fsnotify.ErrEventOverflow, os.ErrPermission} {
		h := newHub(nil)
		errs := make(chan error)
		go h.dispatch(nil, errs)
		ctx, cancel := context.WithCancel(context.Background())
		ch := h.watch(ctx, []string{t.TempDir()}, 0)
		errs <- err
		awaitWake(t, ch, err.Error())
		cancel()
		close(errs)
	}
}

func TestWatchIgnoresUnrelatedEvents(t *testing.T) {
	w := &watcher{dirs: map[string]bool{"/m/topics": true}, files: map[string]bool{"/d/state": true}}
	tests := []struct {
		name       string
		op         fsnotify.Op
		want, redo bool
	}{
		{"/m/topics/a.json", fsnotify.Create, true, false},
		{"/m/topics", fsnotify.Remove, true, true},
		{"/d/state", fsnotify.Write, true, false},
		{"/d/state", fsnotify.Create, true, true},
		{"/d/other", fsnotify.Write, false, false},
		{"/m/topics/sub/x", fsnotify.Write, false, false},
	}
	for _, tt := range tests {
		got, redo := w.relevant(fsnotify.Event{Name: tt.name, Op: tt.op})
		if got != tt.want || redo != tt.redo {
			t.Errorf("relevant(%s %v) = %v, %v; want %v, %v", tt.op, tt.name, got, redo, tt.want, tt.redo)
		}
	}
}

// Watches share one inotify instance; the last one to end removes the
// kernel watch.
func TestWatchesShareTheHub(t *testing.T) {
	dir := t.TempDir()
	h := sharedHub()
	if h.fs == nil {
		t.Skip("no inotify")
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ch1 := Watch(ctx1, []string{dir}, 0)
	ch2 := Watch(ctx2, []string{dir}, 0)
	os.WriteFile(filepath.Join(dir, "a"), nil, 0o644)
	awaitWake(t, ch1, "first watch")
	awaitWake(t, ch2, "second watch")
	refs := func() int { h.mu.Lock(); defer h.mu.Unlock(); return h.refs[dir] }
	if refs() != 2 {
		t.Fatalf("refs = %d, want 2", refs())
	}
	cancel1()
	for range ch1 {
	}
	if refs() != 1 {
		t.Fatalf("refs after one watch ended = %d, want 1", refs())
	}
	os.WriteFile(filepath.Join(dir, "b"), nil, 0o644)
	awaitWake(t, ch2, "second watch after the first ended")
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
