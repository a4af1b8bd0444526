//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package format

// On other systems mk never assumes a terminal: output stays plain.

func isTerminalFd(fd int) bool { return false }

func terminalWidthFd(fd int) int { return 0 }
