package coord

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch returns a channel that receives a value whenever something under
// paths may have changed, until ctx ends; then it is closed.
//
// A wake means "re-read the state", never "this changed": the channel has
// room for one value, so a burst of events is one wake, and a reader that
// is busy finds at most one wake waiting. A wake also comes on inotify
// queue overflow (fsnotify.ErrEventOverflow), on any other watch error,
// and every backstop (0 disables it), so that a lost event costs latency,
// never correctness.
//
// Each path may be a directory or a regular file:
//
//   - A directory is watched for any change of its entries. Metadata files
//     are replaced by rename, which makes a new inode, so watch their
//     directory, not the files.
//   - A regular file is watched for writes in place (a partition's state
//     file, say), and for being replaced or removed (its link count
//     changes); only while it does not exist is its directory watched, for
//     it to appear. So the writes to the directory's other files (a
//     replica's segments and indexes) are not even delivered, and a write
//     in place is one event, not two (one for the file, one for its
//     directory): each would wake the process. Replication between brokers
//     runs on these wakes, one per batch appended.
//   - A path that does not exist yet, or that cannot be watched, is tried
//     again on every event in its directory and every backstop; meanwhile
//     the backstop stands in for its events.
//
// The watches are in place when Watch returns, so the race-free pattern
// is: Watch, read the state, then read the state again on every wake.
//
// All the Watches of a process share one inotify instance (see hub), so
// they are cheap: a watch per path, a goroutine per Watch.
func Watch(ctx context.Context, paths []string, backstop time.Duration) <-chan struct{} {
	return sharedHub().watch(ctx, paths, backstop)
}

// hub shares one inotify instance between all the Watches of a process.
// The kernel allows a user 128 instances by default
// (fs.inotify.max_user_instances), and a broker or a consumer may watch a
// file per partition. The hub's goroutine hands each event to every
// watcher, which decides whether it concerns one of its paths.
type hub struct {
	fs   *fsnotify.Watcher // nil without inotify: watchers live on their backstop
	mu   sync.Mutex
	subs map[*watcher]bool
	refs map[string]int // how many watchers need a watch on a path
}

var (
	hubOnce sync.Once
	theHub  *hub
)

// sharedHub returns the process's hub, started on first use.
func sharedHub() *hub {
	hubOnce.Do(func() {
		fsw, err := fsnotify.NewWatcher()
		if err != nil {
			fsw = nil // no inotify (instances exhausted, say): backstops only
		}
		theHub = newHub(fsw)
		if fsw != nil {
			go theHub.dispatch(fsw.Events, fsw.Errors)
		}
	})
	return theHub
}

func newHub(fsw *fsnotify.Watcher) *hub {
	return &hub{fs: fsw, subs: map[*watcher]bool{}, refs: map[string]int{}}
}

// dispatch hands events and errors to the watchers until both channels
// close. An error (an overflow above all) may hide any event, so it wakes
// every watcher.
func (h *hub) dispatch(events <-chan fsnotify.Event, errs <-chan error) {
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			for _, w := range h.watchers() {
				w.event(ev)
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			for _, w := range h.watchers() {
				w.wake()
			}
		}
	}
}

func (h *hub) watchers() []*watcher {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := make([]*watcher, 0, len(h.subs))
	for w := range h.subs {
		ws = append(ws, w)
	}
	return ws
}

// add makes sure path is watched on w's behalf, and says whether inotify
// took the watch. It calls inotify every time, because the kernel drops a
// watch when its file or directory is removed, without the hub knowing.
func (h *hub) add(w *watcher, path string) bool {
	if h.fs == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !w.held[path] {
		w.held[path] = true
		h.refs[path]++
	}
	return h.fs.Add(path) == nil
}

// drop ends w's need of a watch on path, removing the watch if no other
// watcher needs it. A path that is also a target of w (a directory
// watched for itself) is kept.
func (h *hub) drop(w *watcher, path string) {
	if w.dirs[path] {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !w.held[path] {
		return
	}
	delete(w.held, path)
	if h.refs[path]--; h.refs[path] <= 0 {
		delete(h.refs, path)
		if h.fs != nil {
			h.fs.Remove(path)
		}
	}
}

// release drops w and the watches that no other watcher needs.
func (h *hub) release(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, w)
	for path := range w.held {
		if h.refs[path]--; h.refs[path] <= 0 {
			delete(h.refs, path)
			if h.fs != nil {
				h.fs.Remove(path)
			}
		}
	}
	w.held = nil
}

// watch is Watch on this hub.
func (h *hub) watch(ctx context.Context, paths []string, backstop time.Duration) <-chan struct{} {
	w := &watcher{
		hub:     h,
		out:     make(chan struct{}, 1),
		resetup: make(chan struct{}, 1),
		dirs:    map[string]bool{},
		files:   map[string]bool{},
		held:    map[string]bool{},
	}
	for _, p := range paths {
		w.targets = append(w.targets, filepath.Clean(p))
	}
	h.mu.Lock()
	h.subs[w] = true
	h.mu.Unlock()
	w.setup()
	var tick <-chan time.Time
	var ticker *time.Ticker
	if backstop > 0 {
		ticker = time.NewTicker(backstop)
		tick = ticker.C
	}
	go func() {
		if ticker != nil {
			defer ticker.Stop()
		}
		w.run(ctx, tick)
	}()
	return w.out
}

// watcher is the state behind one Watch.
type watcher struct {
	hub     *hub
	out     chan struct{}
	resetup chan struct{} // asks run to redo setup (a target appeared or was replaced)
	targets []string
	held    map[string]bool // paths the hub watches for us; guarded by hub.mu

	mu     sync.Mutex
	dirs   map[string]bool // targets that are directories
	files  map[string]bool // targets that are files, or do not exist yet
	closed bool
}

// setup (re)adds the watches of every target.
func (w *watcher) setup() {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The directories of file targets that are not watched themselves
	// (they do not exist yet, or inotify refused them).
	missing := map[string]bool{}
	for _, p := range w.targets {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			w.dirs[p], w.files[p] = true, false
			w.hub.add(w, p)
			continue
		}
		// A file: watch it for writes in place, and for its link count
		// changing (replaced by a rename, or removed). Nothing yet: watch
		// the directory for it to appear.
		w.dirs[p], w.files[p] = false, true
		if err != nil || !w.hub.add(w, p) {
			missing[filepath.Dir(p)] = true
		}
	}
	for _, p := range w.targets {
		if d := filepath.Dir(p); !w.files[p] {
			continue
		} else if missing[d] {
			w.hub.add(w, d)
		} else {
			w.hub.drop(w, d)
		}
	}
}

// run wakes on the backstop and redoes the setup when asked, until ctx
// ends.
func (w *watcher) run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			w.hub.release(w)
			w.mu.Lock()
			w.closed = true
			close(w.out)
			w.mu.Unlock()
			return
		case <-w.resetup:
			w.setup()
		case <-tick:
			w.setup()
			w.wake()
		}
	}
}

// event wakes the reader if ev concerns a target, and asks for the
// watches to be set up again when a target was created, replaced or
// removed (a new inode needs a new watch).
func (w *watcher) event(ev fsnotify.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, again := w.relevant(ev)
	if ok {
		w.wakeLocked()
	}
	if again {
		select {
		case w.resetup <- struct{}{}:
		default:
		}
	}
}

// relevant reports whether ev concerns a target, and whether the watches
// must be set up again. w.mu is held.
func (w *watcher) relevant(ev fsnotify.Event) (relevant, setupAgain bool) {
	name := filepath.Clean(ev.Name)
	replaced := ev.Has(fsnotify.Create | fsnotify.Remove | fsnotify.Rename)
	switch {
	case w.dirs[name]:
		return true, replaced
	case w.dirs[filepath.Dir(name)]:
		return true, false
	case w.files[name]:
		// Chmod is IN_ATTRIB, which a watched file also gets when its
		// link count changes: unlinked, or replaced by a rename.
		return true, replaced || ev.Has(fsnotify.Chmod)
	}
	return false, false
}

// wake sends a wake unless one is already waiting.
func (w *watcher) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wakeLocked()
}

func (w *watcher) wakeLocked() {
	if w.closed {
		return
	}
	select {
	case w.out <- struct{}{}:
	default:
	}
}
