package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxSunPath is the size of sockaddr_un's sun_path on Linux, terminating
// NUL included: a socket path of 108 bytes or more cannot be bound or
// dialled by name.
const maxSunPath = 108

// shortSocketPath returns a name for path that fits in sun_path, and a
// function that releases it. A path that fits is returned as it is. A
// longer one (a cluster directory deep in a temporary tree) is reached
// through its directory opened with O_PATH: /proc/self/fd/N/kafka.sock
// names the same file for as long as the descriptor is open, and the
// kernel resolves it at bind or connect time.
func shortSocketPath(path string) (string, func(), error) {
	if len(path) < maxSunPath {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	short := fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path))
	if len(short) >= maxSunPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("socket file name %q is too long", filepath.Base(path))
	}
	return short, func() { unix.Close(fd) }, nil
}

// ListenUnixPath listens on the Unix socket at path, replacing a socket
// file left there by a previous life of the broker (the caller holds the
// broker's lock, so no live broker owns it).
func ListenUnixPath(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen on %s: a file that is not a socket is in the way", path)
		}
		os.Remove(path)
	}
	name, release, err := shortSocketPath(path)
	if err != nil {
		return nil, err
	}
	defer release()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The listener unlinks the name it was given on Close; that name may
	// be a /proc/self/fd path whose descriptor is gone by then, so unlink
	// by the real path instead (Server.Close does).
	l.SetUnlinkOnClose(false)
	return l, nil
}

// DialUnixPath connects to the Unix socket at path, however long the path.
func DialUnixPath(path string) (*net.UnixConn, error) {
	name, release, err := shortSocketPath(path)
	if err != nil {
		return nil, err
	}
	defer release()
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
}
