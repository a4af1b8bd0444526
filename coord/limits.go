package coord

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// inotifyInstances is fs.inotify.max_user_instances: how many inotify
// instances one user may have (128 by default).
func inotifyInstances() int {
	data, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		return 128
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n <= 0 {
		return 128
	}
	return n
}

// MaxLocalBrokers is how many brokers mk cluster start may run on this
// machine, and why. Every mk process uses one inotify instance for its
// watches, and a user may have fs.inotify.max_user_instances of them (128
// by default); half are left for clients (consumers, producers, other
// tools), since a process without one falls back to slow polling.
func MaxLocalBrokers() (int, string) {
	n := inotifyInstances()
	return max(n/2, 1), fmt.Sprintf("each broker uses one of the %d inotify instances a user may have (fs.inotify.max_user_instances) and half are kept for clients", n)
}
