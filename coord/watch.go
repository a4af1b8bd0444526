package coord

import (
	"context"
	"os"
	"path/filepath"
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
//     file, say), and its directory for the file being replaced, created
//     or removed; events for the directory's other entries are ignored.
//   - A path that does not exist yet, or that cannot be watched, is tried
//     again on every event in its directory and every backstop; meanwhile
//     the backstop stands in for its events.
//
// The watches are in place when Watch returns, so the race-free pattern
// is: Watch, read the state, then read the state again on every wake.
func Watch(ctx context.Context, paths []string, backstop time.Duration) <-chan struct{} {
	w := &watcher{out: make(chan struct{}, 1), files: map[string]bool{}, dirs: map[string]bool{}}
	for _, p := range paths {
		p = filepath.Clean(p)
		w.targets = append(w.targets, p)
	}
	fsw, err := fsnotify.NewWatcher()
	if err == nil {
		w.fs = fsw
		w.setup()
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fs != nil {
		events, errs = w.fs.Events, w.fs.Errors
	}
	var tick <-chan time.Time
	if backstop > 0 {
		t := time.NewTicker(backstop)
		tick = t.C
		go func() { <-ctx.Done(); t.Stop() }()
	}
	go w.run(ctx, events, errs, tick)
	return w.out
}

// watcher is the state behind one Watch.
type watcher struct {
	fs      *fsnotify.Watcher // nil if inotify is unavailable: backstop only
	targets []string
	dirs    map[string]bool // targets that are directories
	files   map[string]bool // targets that are files, or do not exist yet
	out     chan struct{}
}

// setup (re)adds the watches of every target. Adding a watch that exists
// is a no-op for fsnotify, so this is safe to repeat.
func (w *watcher) setup() {
	if w.fs == nil {
		return
	}
	for _, p := range w.targets {
		fi, err := os.Stat(p)
		if err == nil && fi.IsDir() {
			w.dirs[p], w.files[p] = true, false
			w.fs.Add(p)
			continue
		}
		// A file, or nothing yet: watch the directory for it to appear or
		// be replaced, and the file itself for writes in place.
		w.dirs[p], w.files[p] = false, true
		w.fs.Add(filepath.Dir(p))
		if err == nil {
			w.fs.Add(p)
		}
	}
}

// run turns events, errors and ticks into wakes until ctx ends.
func (w *watcher) run(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error, tick <-chan time.Time) {
	defer close(w.out)
	if w.fs != nil {
		defer w.fs.Close()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if w.relevant(ev) {
				w.wake()
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// fsnotify.ErrEventOverflow means events were dropped; any
			// other error may mean the same. Either way, re-read.
			w.wake()
		case <-tick:
			w.setup()
			w.wake()
		}
	}
}

// relevant reports whether ev concerns a target, re-adding the watch of a
// file target that was created or replaced.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	name := filepath.Clean(ev.Name)
	if w.dirs[name] || w.dirs[filepath.Dir(name)] {
		if w.dirs[name] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
			w.setup()
		}
		return true
	}
	if w.files[name] {
		if ev.Has(fsnotify.Create | fsnotify.Remove | fsnotify.Rename) {
			w.setup()
		}
		return true
	}
	return false
}

// wake sends a wake unless one is already waiting.
func (w *watcher) wake() {
	select {
	case w.out <- struct{}{}:
	default:
	}
}
