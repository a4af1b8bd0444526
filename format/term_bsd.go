//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package format

import "golang.org/x/sys/unix"

const ioctlReadTermios = unix.TIOCGETA
