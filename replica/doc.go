// Package replica runs the partition replicas of one broker: it recovers
// them at start, gives each its role (leader or follower) at the epoch the
// controller published, fences replicas whose leadership moved, copies the
// leader's batches into follower replicas, moves the high watermark, and
// applies retention. Producers and consumers do not go through it: they
// append to and read from the leader's replica directly (see package
// logdir), fenced by the epoch it maintains.
package replica
